"""OpenAI's Responses API <-> the canonical chat request, for providers that do not speak Responses.

Requests: ``instructions`` becomes the first system message; ``input`` (a string, or items) becomes
the messages: message items with ``input_text`` / ``input_image`` / ``input_file`` parts, consecutive
``function_call`` items one assistant turn's tool calls, ``function_call_output`` items tool messages;
reasoning items have no chat form and are left out. Function tools, ``tool_choice``,
``parallel_tool_calls``, ``max_output_tokens``, ``temperature`` / ``top_p``, ``text.format``
(``response_format``), ``reasoning.effort`` (``reasoning_effort``) and ``user`` take their chat forms.
``metadata`` stays with the gateway: it is echoed on the answer, as the Responses API does, and not
sent (Chat Completions takes it only from OpenAI with ``store``, and other vendors reject it). What
has no chat form (hosted tools, item references, background runs, stored prompts, conversations) is
refused with a 400 naming it: such a request needs a provider with the Responses API.

Answers: a chat completion becomes a ``response`` object: its text (and refusal) one ``message`` item,
each tool call a ``function_call`` item; ``status`` is ``completed``, or ``incomplete`` with
``incomplete_details`` when the answer was cut at its length or filtered. Streams: ``responses_stream``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.chat import ChatRequest
from api_connector.core.responses import FunctionTool, InputItem, InputPart, ResponsesRequest, TextConfig, new_id
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed

Json = dict[str, Any]
_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
# Chat finish reasons that end a response early, and what the Responses API calls them.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _refuse(message: str, param: str) -> ValidationFailed:
    return ValidationFailed(f"{message}: this needs a provider that speaks the Responses API", param=param)


# -- request ------------------------------------------------------------------------------------------


def chat_request(request: ResponsesRequest, *, stream: bool) -> ChatRequest:
    """The chat request a provider without the Responses API is sent for ``request``."""
    if request.conversation is not None:
        raise _refuse("conversations are not available", "conversation")
    if request.prompt is not None:
        raise _refuse("stored prompts are not available", "prompt")
    if request.background:
        raise _refuse("background responses are not available", "background")
    body: Json = {"model": request.model, "messages": _messages(request)}
    if stream:
        # The usage comes in the stream's last chunk: the final response event carries it.
        body.update(stream=True, stream_options={"include_usage": True})
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.user:
        body["user"] = request.user
    if request.tools:
        body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(request.tools)]
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
        choice = _tool_choice(request.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
    response_format = _response_format(request.text)
    if response_format is not None:
        body["response_format"] = response_format
    if request.reasoning is not None and request.reasoning.effort:
        body["reasoning_effort"] = request.reasoning.effort
    try:
        return ChatRequest.from_json_obj(body)
    except ValidationError as exc:
        problem = exc.errors(include_input=False, include_url=False)[0]
        raise ValidationFailed(f"the request has no chat form: {problem['msg']}", param="input") from None


def _messages(request: ResponsesRequest) -> list[Json]:
    messages: list[Json] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
    else:
        for i, item in enumerate(request.input or []):
            _add_item(messages, item, f"input[{i}]")
    if not any(message["role"] != "system" for message in messages):
        raise ValidationFailed("input must hold at least one message or item", param="input")
    return messages


def _add_item(messages: list[Json], item: InputItem, param: str) -> None:
    kind = item.kind
    if kind == "message":
        messages.append(_message(item, param))
    elif kind == "function_call":
        if not item.call_id or not item.name:
            raise ValidationFailed("a function_call item needs call_id and name", param=param)
        function = {"name": item.name, "arguments": item.arguments or ""}
        call = {"id": item.call_id, "type": "function", "function": function}
        last = messages[-1] if messages else None
        # Consecutive calls (and the text before them) are one assistant turn in chat.
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        if not item.call_id:
            raise ValidationFailed("a function_call_output item needs call_id", param=param)
        output = _text_only(item.output, f"{param}.output", "tool outputs")
        messages.append({"role": "tool", "tool_call_id": item.call_id, "content": output})
    elif kind == "item_reference":
        raise _refuse("item references name items only the provider keeps", param)
    elif kind != "reasoning":  # reasoning has no chat form; the model reasons again
        raise _refuse(f"input items of type {kind!r} are not available", param)


def _message(item: InputItem, param: str) -> Json:
    role = _ROLES.get(item.role or "")
    if role is None:
        raise ValidationFailed(f"unknown message role {item.role!r}", param=f"{param}.role")
    content = item.content
    if role != "user" or isinstance(content, str) or content is None:
        # System and assistant turns are text in every chat API.
        return {"role": role, "content": _text_only(content, f"{param}.content", f"{role} messages")}
    parts = [_part(part, f"{param}.content[{j}]") for j, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _text_only(content: str | list[InputPart] | dict[str, Any] | None, param: str, what: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, dict):
        raise ValidationFailed(f"{what} can only hold text when translated to chat", param=param)
    texts: list[str] = []
    for j, part in enumerate(content):
        if part.type in _TEXT_PARTS:
            texts.append(part.text or "")
        elif part.type != "refusal":  # an earlier refusal carries nothing the model needs back
            raise ValidationFailed(f"{what} can only hold text when translated to chat", param=f"{param}[{j}]")
    return "".join(texts)


def _part(part: InputPart, param: str) -> Json:
    if part.type in _TEXT_PARTS:
        return {"type": "text", "text": part.text or ""}
    if part.type == "input_image":
        if not part.image_url:
            raise _refuse("images by file_id are not available", param)
        image: Json = {"url": part.image_url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.type == "input_file":
        file: Json = {}
        if part.file_data:
            file["file_data"] = part.file_data
        elif part.file_id:
            file["file_id"] = part.file_id
        else:
            raise _refuse("files by URL are not available", param)
        if part.filename:
            file["filename"] = part.filename
        return {"type": "file", "file": file}
    raise _refuse(f"content parts of type {part.type!r} are not available", param)


def _tool(tool: FunctionTool, param: str) -> Json:
    if tool.type != "function" or not tool.name:
        raise _refuse(f"tools of type {tool.type!r} are not available", param)
    function: Json = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _tool_choice(choice: str | dict[str, Any] | None) -> str | Json | None:
    if choice is None or isinstance(choice, str):
        return choice
    try:
        named = _ToolChoice.model_validate(choice)
    except ValidationError:
        raise ValidationFailed("tool_choice must be a string or an object with a type", param="tool_choice") from None
    if named.type != "function" or not named.name:
        raise _refuse(f"tool_choice {named.type!r} is not available", "tool_choice")
    return {"type": "function", "function": {"name": named.name}}


class _ToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    name: str | None = None


def _response_format(text: TextConfig | None) -> Json | None:
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.type != "json_schema" or not fmt.name or fmt.schema_ is None:
        raise ValidationFailed("text.format must be text, json_object, or json_schema with name and schema",
                               param="text.format")
    schema: Json = {"name": fmt.name, "schema": fmt.schema_}
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    if fmt.description:
        schema["description"] = fmt.description
    return {"type": "json_schema", "json_schema": schema}


# -- answer -------------------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Function(_Lenient):
    name: str = ""
    arguments: str = ""


class _ToolCall(_Lenient):
    id: str = ""
    function: _Function = _Function()


class _Message(_Lenient):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(_Lenient):
    message: _Message
    finish_reason: str | None = None


class _OutputDetails(_Lenient):
    reasoning_tokens: int | None = None


class ChatUsage(_Lenient):
    completion_tokens_details: _OutputDetails | None = None

    @property
    def reasoning_tokens(self) -> int:
        details = self.completion_tokens_details
        return (details.reasoning_tokens or 0) if details is not None else 0


class _Completion(_Lenient):
    model: str = ""
    choices: list[_Choice]
    usage: ChatUsage | None = None


def usage_json(usage: Usage, reasoning_tokens: int = 0) -> Json:
    """A Responses ``usage`` object."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def ending(finish_reason: str | None) -> tuple[str, Json | None]:
    """(status, incomplete_details) of a response whose chat answer ended with ``finish_reason``."""
    reason = _INCOMPLETE.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def text_part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, parts: list[Json], status: str) -> Json:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": parts}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Json:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def response_object(
    request: ResponsesRequest,
    response_id: str,
    created: int,
    model: str,
    *,
    status: str,
    output: list[Json],
    usage: Json | None = None,
    incomplete: Json | None = None,
    completed_at: int | None = None,
) -> Json:
    """A ``response`` object for ``request``: what the request asked for, echoed as OpenAI does."""
    fmt = request.text.format if request.text is not None else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "completed_at": completed_at,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_id,
        "reasoning": {"effort": request.reasoning.effort if request.reasoning else None, "summary": None},
        "store": request.kept,
        "temperature": request.temperature if request.temperature is not None else 1.0,
        "text": {"format": fmt.model_dump(exclude_none=True, by_alias=True) if fmt else {"type": "text"}},
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "tools": [tool.model_dump(exclude_none=True, by_alias=True) for tool in request.tools or ()],
        "top_p": request.top_p if request.top_p is not None else 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": request.user,
        "metadata": request.metadata or {},
    }


def response_from_completion(
    completion: bytes, usage: Usage, request: ResponsesRequest, response_id: str, created: int
) -> Json:
    """The ``response`` object for a chat completion (ValueError or ValidationError if it is not one)."""
    parsed = _Completion.model_validate_json(completion)
    if not parsed.choices:
        raise ValueError("a chat completion without choices")
    choice = parsed.choices[0]
    status, incomplete = ending(choice.finish_reason)
    message = choice.message
    output: list[Json] = []
    parts = [text_part(message.content)] if message.content else []
    if message.refusal:
        parts.append({"type": "refusal", "refusal": message.refusal})
    if parts:
        output.append(message_item(new_id("msg"), parts, status))
    for call in message.tool_calls or []:
        output.append(call_item(new_id("fc"), call.id, call.function.name, call.function.arguments, "completed"))
    reasoning = parsed.usage.reasoning_tokens if parsed.usage is not None else 0
    return response_object(
        request,
        response_id,
        created,
        parsed.model or request.model,
        status=status,
        output=output,
        usage=usage_json(usage, reasoning),
        incomplete=incomplete,
        completed_at=created,
    )
