from core.storage.mongo.store import MongoStore, is_unavailable

__all__ = ["MongoStore", "is_unavailable"]
