"""Collections, databases, indexes (TTL and text included) and, for a mongos, sharding."""

from __future__ import annotations

from tests.mongo_standin.protocol import CommandError, Doc
from tests.mongo_standin.reads import ReadCommands
from tests.mongo_standin.store import Call, filter_applies
from tests.mongo_standin.text import TextIndexSpec


def _check_unique_prefix(ns: str, fields: list[str], shard_key: Doc) -> None:
    """mongod keeps a unique index unique only when it starts with the shard key."""
    if fields[: len(shard_key)] != list(shard_key) and fields != ["_id"]:
        message = (
            f"cannot create unique index over {fields} with shard key pattern {shard_key} on {ns}"
        )
        raise CommandError(67, message)


class NamespaceCommands(ReadCommands):
    """Commands on namespaces and indexes, and the rules a sharded cluster enforces."""

    # -- sharding (sharded=True) --------------------------------------------------------

    def _check_targetable(self, call: Call, query: Doc, *, multi: bool, upsert: bool) -> None:
        """On a sharded collection an updateOne, and every upsert, names the shard key."""
        key = self._shard_keys.get((call.db, call.target))
        if not self.sharded or key is None or multi:
            return
        missing = [name for name in key if name not in query or isinstance(query[name], dict)]
        if missing and upsert:
            raise CommandError(61, f"Failed to target upsert by query: no shard key {missing}")
        if missing:
            raise CommandError(
                72, f"A single update on a sharded collection must contain {missing}"
            )

    def _check_namespace_in_transaction(self, call: Call) -> None:
        if self.sharded and call.txn is not None and not self._exists(call):
            message = f"Cannot create namespace {call.ns} in multi-document transaction."
            raise CommandError(263, message)

    # -- indexes and namespaces ---------------------------------------------------------

    def cmd_createindexes(self, call: Call) -> Doc:
        coll, existed = self._coll(call), self._exists(call)
        before = len(coll.index_information()) if existed else 1
        shard_key = self._shard_keys.get((call.db, call.target))
        for spec in call.opt("indexes", []):
            if "text" in spec["key"].values():
                self._create_text_index(call, spec)
                continue
            keys = list(spec["key"].items())
            name = spec.get("name") or "_".join(f"{k}_{v}" for k, v in keys)
            if shard_key is not None and spec.get("unique"):
                _check_unique_prefix(call.ns, [k for k, _ in keys], shard_key)
            options = {
                k: spec[k] for k in ("unique", "sparse", "partialFilterExpression") if k in spec
            }
            coll.create_index(keys, name=name, **options)
            # TTL is kept here, not in mongomock, which would expire documents on every access.
            if spec.get("expireAfterSeconds") is not None:
                self._ttl.setdefault((call.db, call.target), {})[name] = spec["expireAfterSeconds"]
        return {
            "createdCollectionAutomatically": not existed,
            "numIndexesBefore": before,
            "numIndexesAfter": len(coll.index_information()),
            "ok": 1.0,
        }

    def _create_text_index(self, call: Call, spec: Doc) -> None:
        """mongod allows one text index per collection; the same one again is a no-op."""
        index = TextIndexSpec.from_request(spec)
        current = self._text.get((call.db, call.target))
        if current is not None and current != index:
            raise CommandError(85, f"a different text index exists: {current.name}")
        if not self._exists(call):
            self._client[call.db].create_collection(call.target)
        self._text[(call.db, call.target)] = index

    def cmd_listindexes(self, call: Call) -> Doc:
        if not self._exists(call):
            raise CommandError(26, f"ns does not exist: {call.ns}")
        ttl = self._ttl.get((call.db, call.target), {})
        indexes = list(self._coll(call).list_indexes())
        for index in indexes:
            if index["name"] in ttl:
                index["expireAfterSeconds"] = ttl[index["name"]]
        text = self._text.get((call.db, call.target))
        if text is not None:
            indexes.append(text.describe())
        return self._cursor_reply(call.ns, indexes, call.opt("cursor", {}).get("batchSize"))

    def cmd_dropindexes(self, call: Call) -> Doc:
        if not self._exists(call):
            raise CommandError(26, f"ns not found: {call.ns}")
        coll, index = self._coll(call), call.opt("index", "*")
        ttl = self._ttl.setdefault((call.db, call.target), {})
        was = len(coll.index_information())
        text = self._text.get((call.db, call.target))
        if index == "*":
            coll.drop_indexes()
            ttl.clear()
            self._text.pop((call.db, call.target), None)
            return {"nIndexesWas": was, "ok": 1.0}
        if isinstance(index, dict):
            index = "_".join(f"{k}_{v}" for k, v in index.items())
        for name in [index] if isinstance(index, str) else index:
            if text is not None and name == text.name:
                del self._text[(call.db, call.target)]
                continue
            coll.drop_index(name)
            ttl.pop(name, None)
        return {"nIndexesWas": was, "ok": 1.0}

    def cmd_enablesharding(self, call: Call) -> Doc:
        if not self.sharded:
            raise CommandError(59, "no such command: 'enableSharding' (not a mongos)")
        return {"ok": 1.0}

    def cmd_shardcollection(self, call: Call) -> Doc:
        if not self.sharded:
            raise CommandError(59, "no such command: 'shardCollection' (not a mongos)")
        db, _, name = str(call.target).partition(".")
        key: Doc = dict(call.opt("key", {}))
        known = self._shard_keys.get((db, name))
        if known is not None:
            if known != key:
                raise CommandError(2, f"{call.target} is already sharded with key {known}")
            return {"collectionsharded": call.target, "ok": 1.0}
        coll = self._collection(db, name)
        if name in self._client[db].list_collection_names():
            for info in coll.index_information().values():
                if info.get("unique"):
                    _check_unique_prefix(str(call.target), [k for k, _ in info["key"]], key)
        else:
            self._client[db].create_collection(name)
        self._shard_keys[(db, name)] = key
        return {"collectionsharded": call.target, "ok": 1.0}

    def cmd_listcollections(self, call: Call) -> Doc:
        docs: list[Doc] = []
        for name in sorted(self._client[call.db].list_collection_names()):
            doc: Doc = {
                "name": name,
                "type": "collection",
                "options": {},
                "info": {"readOnly": False},
                "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            }
            if filter_applies(call.opt("filter", {}), doc):
                docs.append({"name": name, "type": "collection"} if call.opt("nameOnly") else doc)
        batch_size = call.opt("cursor", {}).get("batchSize")
        return self._cursor_reply(f"{call.db}.$cmd.listCollections", docs, batch_size)

    def cmd_create(self, call: Call) -> Doc:
        self._client[call.db].create_collection(call.target)
        return {"ok": 1.0}

    def cmd_drop(self, call: Call) -> Doc:
        was = 0
        if self._exists(call):
            was = len(self._coll(call).index_information())
            self._client[call.db].drop_collection(call.target)
        self._ttl.pop((call.db, call.target), None)
        self._text.pop((call.db, call.target), None)
        return {"ns": call.ns, "nIndexesWas": was, "ok": 1.0}

    def cmd_dropdatabase(self, call: Call) -> Doc:
        self._client.drop_database(call.db)
        for key in [key for key in self._ttl if key[0] == call.db]:
            del self._ttl[key]
        for key in [key for key in self._text if key[0] == call.db]:
            del self._text[key]
        return {"dropped": call.db, "ok": 1.0}

    def cmd_listdatabases(self, call: Call) -> Doc:
        databases: list[Doc] = []
        for name in sorted(self._client.list_database_names()):
            doc: Doc = {"name": name, "sizeOnDisk": 0, "empty": False}
            if filter_applies(call.opt("filter", {}), doc):
                databases.append({"name": name} if call.opt("nameOnly") else doc)
        return {"databases": databases, "totalSize": 0, "totalSizeMb": 0, "ok": 1.0}
