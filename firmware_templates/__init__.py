"""C templates: int8 kernels, firmware runtime, board support, generated-model templates."""
