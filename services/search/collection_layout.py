"""How index versions map onto Milvus: collection and alias names, schema, stored properties."""

import re

from pymilvus import CollectionSchema, DataType, MilvusClient

from services.common.shown import shown

ID_FIELD = "image_id"
VECTOR_FIELD = "vector"
METADATA_FIELD = "metadata"
MODEL_VERSION_PROPERTY = "anneal.model_version"
SEARCH_PARAMS_PROPERTY = "anneal.search_params"
"""JSON of the search parameters a version was built and its recall measured with."""
MAX_ID_LENGTH = 512
MAX_DIM = 32768
"""The largest vector dimension a Milvus FLOAT_VECTOR field holds."""
_FORBIDDEN_ID_CHARS = re.compile(r"[\"'\\\x00-\x1f\x7f]")


def check_image_id(image_id: str) -> None:
    """Reject ids Milvus cannot store or that would break a filter expression.

    Ids go into Milvus filter strings, which have no parameter binding on every Milvus version we
    support, so quotes, backslashes and control characters are refused rather than escaped.
    """
    if not image_id:
        raise ValueError("image id is empty")
    if len(image_id) > MAX_ID_LENGTH:
        raise ValueError(
            f"image id is {len(image_id)} characters long; the limit is {MAX_ID_LENGTH}"
        )
    if _FORBIDDEN_ID_CHARS.search(image_id):
        raise ValueError(
            f"image id {shown(image_id)} contains a quote, backslash or control character"
        )


class CollectionLayout:
    """Names ``<prefix>_v<N>`` for version N and ``<prefix>_current`` for the serving alias."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._pattern = re.compile(rf"{re.escape(prefix)}_v([1-9][0-9]*)")

    @property
    def alias(self) -> str:
        return f"{self._prefix}_current"

    def collection(self, version: int) -> str:
        return f"{self._prefix}_v{version}"

    def serving_collection(self, client: MilvusClient) -> str | None:
        """The collection the alias points at now, or None if there is no alias yet."""
        if self.alias not in client.list_aliases().get("aliases", []):
            return None
        return str(client.describe_alias(self.alias)["collection_name"])

    def version_of(self, collection: str) -> int | None:
        """The version a collection holds, or None if it is not one of ours."""
        match = self._pattern.fullmatch(collection)
        return int(match.group(1)) if match else None

    @staticmethod
    def schema(dim: int) -> CollectionSchema:
        """Image id as primary key (so look-ups by id need no second key), vector, metadata."""
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=MAX_ID_LENGTH)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field(METADATA_FIELD, DataType.JSON)
        return schema
