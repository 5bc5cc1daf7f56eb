"""Pure encode/decode of vendor wire formats: typed vendor JSON in, neutral types out. No I/O."""
