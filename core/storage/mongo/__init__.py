"""MongoDB adapter: production storage through PyMongo's async API (`AsyncMongoClient`).

Motor, the async driver the original design named, reached end of life in May 2026; PyMongo's
own async client replaces it with the same shape of API.

Durability and time, as production runs it:

* Every write and every transaction uses the configured write concern (`majority` by
  default) and every read the configured read concern: an acknowledged declaration is on a
  majority of nodes and survives a failover. The write concern is set on the client *and*
  passed to each transaction: `with_transaction` does not take it from the database.
* `timeoutMS` (client-side operation timeouts) bounds every operation, a transaction with its
  retries included. A timeout, like an unreachable or stepped-down primary, raises
  `StorageDown`, which the API answers with 503 and `Retry-After`; a declaration whose commit
  outcome is unknown is replayed from its idempotency record on retry.
* A batch of more than one operation runs in a multi-document transaction (a replica set or
  sharded cluster, as in docker-compose.yml), all-or-none as on SQLite. On MongoDB 8.0 its
  operations go in one client-level `bulkWrite` command, whatever collections they touch:
  a declaration is one write command and one commit, not one round trip per operation.

Collections and indexes are made by `khaibao db migrate` (`migrate`), once; a starting
process only checks they are there (`start`) and names what is missing. Expiry is the TTL
monitor's work alone (`expires_by_itself`). The shard plan is docs/shard-plan.md.

Read it in this order: `store` (the `Store` contract, the client, reads), `schema`
(collections, indexes, sharding), `writes` (operations alone, in a transaction, in one
`bulkWrite`) and `errors` (which driver errors are an outage).
"""

from core.storage.mongo.errors import is_unavailable
from core.storage.mongo.store import MongoStore

__all__ = ["MongoStore", "is_unavailable"]
