"""An llm plugin for bench/startup.py: the GGUF in $CHATTUI_BENCH_GGUF as model ``bench``.

llm-gguf's chat model writes until the end of turn; this one stops after
$CHATTUI_BENCH_MAX_TOKENS tokens, as ``chattui ask --max-tokens N`` does, so both commands do
the same work. Everything else (loading, the chat template, streaming) is llm-gguf's own.
"""

import os

import llm
from llm_gguf import GgufChatModel


class LimitedGgufChatModel(GgufChatModel):
    """llm-gguf's chat model with a cap on the reply."""

    def execute(self, prompt, stream, response, conversation):  # noqa: ANN001, ANN201
        messages = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": prompt.prompt})
        limit = int(os.environ.get("CHATTUI_BENCH_MAX_TOKENS", "16"))
        completion = self.get_model().create_chat_completion(
            messages=messages, stream=True, max_tokens=limit
        )
        for chunk in completion:
            content = chunk["choices"][0].get("delta", {}).get("content")
            if content is not None:
                yield content


@llm.hookimpl
def register_models(register):  # noqa: ANN001, ANN201
    path = os.environ.get("CHATTUI_BENCH_GGUF")
    if path:
        register(LimitedGgufChatModel("bench", path))
