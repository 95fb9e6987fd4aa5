"""xmodal server: embeds images, text and speech into one vector space and searches across them."""
__version__ = "0.1.0"
