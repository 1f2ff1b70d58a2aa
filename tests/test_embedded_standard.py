"""langchain-core's standard unit tests, run against the embedded model."""

from __future__ import annotations

from langchain_tests.unit_tests import ChatModelUnitTests

from llm.embedded import EmbeddedChatModel
from llm.engine import bundled_model_path


class TestEmbeddedChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[EmbeddedChatModel]:
        return EmbeddedChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"model_path": str(bundled_model_path())}
