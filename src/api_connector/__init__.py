"""api-connector: one gateway through which a platform's services reach every external API."""

__version__ = "0.1.0"
