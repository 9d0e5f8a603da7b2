"""Storage port (`port`) and its adapters: SQLite (`sqlite`) and MongoDB (`mongo`)."""

from core.storage.port import (
    CollectionSpec,
    DataStep,
    Delete,
    Document,
    DuplicateKey,
    Filter,
    Index,
    Insert,
    Operation,
    PreconditionFailed,
    SchemaMissing,
    StorageDown,
    StorageError,
    Store,
    TextIndex,
    Update,
)

__all__ = [
    "CollectionSpec",
    "DataStep",
    "Delete",
    "Document",
    "DuplicateKey",
    "Filter",
    "Index",
    "Insert",
    "Operation",
    "PreconditionFailed",
    "SchemaMissing",
    "StorageDown",
    "StorageError",
    "Store",
    "TextIndex",
    "Update",
]
