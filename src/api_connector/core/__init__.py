"""Provider-neutral types shared by the API, the pipeline and the wire modules."""
