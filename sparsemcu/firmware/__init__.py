"""Firmware builds: the board registry (firmware_templates/boards/*/board.json) and
`build(dir, board) -> BuildResult` (arm-none-eabi-gcc + newlib-nano, or gcc for `host`)."""
from .boards import Board, get_board, list_boards, templates_dir
from .build import BuildResult, build

__all__ = ["Board", "BuildResult", "build", "get_board", "list_boards", "templates_dir"]
