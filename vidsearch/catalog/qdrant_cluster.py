"""The production catalog: ``QdrantCatalog`` over two collections, through qdrant-client.

Collections ``<prefix>_videos`` and ``<prefix>_keyframes`` on a Qdrant deployment (or in
qdrant-client's local mode): ``qdrant_cluster_store``. Every write waits with strong
ordering. A restore is in place: Qdrant cannot rename collections. What is verified
without a Qdrant server, and what is not: ``docs/design.md``.
"""

from __future__ import annotations

from qdrant_client import QdrantClient

from vidsearch.catalog.hash_index import HashIndex
from vidsearch.catalog.qdrant import QdrantCatalog
from vidsearch.catalog.qdrant_cluster_store import ClientPointStore, Topology


class QdrantClusterCatalog(QdrantCatalog):
    """The catalog in collections ``<prefix>_*`` reached through ``client`` (closed with
    the catalog when ``owns_client``); ``location`` names the URL in messages."""

    def __init__(
        self,
        client: QdrantClient,
        *,
        prefix: str = "vidsearch",
        texture_dim: int | None = None,
        embedding_dim: int | None = None,
        text_dim: int | None = None,
        sentence_dim: int | None = None,
        replication_factor: int = 2,
        shard_number: int = 3,
        write_consistency_factor: int | None = None,
        owns_client: bool = True,
        location: str = "",
        wait_for_server: bool = False,
        hash_index: HashIndex | None = None,
    ) -> None:
        topology = Topology(replication_factor, shard_number, write_consistency_factor)
        self._client_store = ClientPointStore(
            client, prefix, topology, owns_client=owns_client, location=location,
            hash_index=hash_index,
        )
        super().__init__(
            self._client_store, texture_dim=texture_dim, embedding_dim=embedding_dim,
            text_dim=text_dim, sentence_dim=sentence_dim, wait_for_server=wait_for_server,
            hash_index=hash_index,
        )

    def sibling(self, prefix: str) -> QdrantClusterCatalog:
        """Another catalog (collections ``<prefix>_*``) on this one's client and topology,
        e.g. the background set; closing it leaves the client open."""
        store, topology = self._client_store, self._client_store.topology
        return QdrantClusterCatalog(
            store.client,
            prefix=prefix,
            embedding_dim=self._wanted.embedding,
            replication_factor=topology.replication_factor,
            shard_number=topology.shard_number,
            write_consistency_factor=topology.write_consistency_factor,
            owns_client=False,
            location=store.location,
            wait_for_server=True,
            hash_index=self.hash_index,
        )
