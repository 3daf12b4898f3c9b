"""The prompt format, in one place: how a question becomes model input and an answer its target.

Two styles, chosen per model by the registry:
- `qa` (the embedded Fictional-World model and other base models):
      "Question: {question}\\nAnswer:" followed by " {answer}" and the end-of-text token.
  The embedded model was trained on exactly this, so it must not change without retraining it.
- `chat` (instruct models such as SmolLM2-135M-Instruct): the tokenizer's own chat template with the
  question as the user turn and `add_generation_prompt=True`; the answer is the assistant turn,
  ended by the tokenizer's end-of-sequence token.
Passages (no question) are used as they are, with the end-of-text token appended for training.
Losses are taken on the answer tokens only for QA, on every token for passages.
"""

from __future__ import annotations

from typing import Literal

PromptStyle = Literal["qa", "chat"]
QA_PROMPT = "Question: {question}\nAnswer:"


def format_prompt(question: str, style: PromptStyle = "qa", tokenizer=None) -> str:
    """The text the model sees before it answers."""
    if style == "qa":
        return QA_PROMPT.format(question=question.strip())
    if style == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("the chat prompt style needs a tokenizer with a chat template")
        messages = [{"role": "user", "content": question.strip()}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    raise ValueError(f"unknown prompt style {style!r}; use 'qa' or 'chat'")


def format_target(answer: str, style: PromptStyle = "qa") -> str:
    """The answer as it follows the prompt (end-of-sequence token added by the caller)."""
    answer = answer.strip()
    return f" {answer}" if style == "qa" else answer
