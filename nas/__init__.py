"""SpArSe search: space (space.py), trial evaluation on the exporter's own flash/RAM figures
(objectives.py), the multi-objective BO sampler with random scalarisations and network
morphism (sampler.py, gp.py), the Optuna-backed driver (search.py) and run directories
with `pick` (runs.py)."""
