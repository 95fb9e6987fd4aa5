"""Python client for the xmodal cross-modal retrieval server.

    from xmodal import Client, Item
    with Client("localhost:50051") as c:
        c.add_items("faq", [Item.text("a1", "We refund within 5 days.")])
        print(c.search_text("faq", "when do I get my money back?").hits[0])
"""
from xmodal._messages import Embeddings, Hit, Item, SearchResult, XmodalClientError
from xmodal.client import AsyncClient, Client

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "Embeddings", "Hit", "Item", "SearchResult", "XmodalClientError"]
