"""The built-in rules, one module per family: naming (N1xx), metadata (M2xx), layout (L3xx),
immutability (I4xx). Each rule is a plain function registered with ``linter.registry.rule``."""
