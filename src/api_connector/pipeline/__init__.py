"""The one request pipeline: every entry point runs the same ordered layers (see ``pipeline.build``)."""
