import json

import pytest

from bridge.errors import ProtocolError
from bridge.protocol.peerjs import (
    ClientMessage,
    ErrorText,
    MessageType,
    ServerMessage,
    error_message,
    id_taken_message,
    is_retryable_refusal,
    is_valid_id,
    is_valid_token,
    open_message,
    relayed,
)


def test_server_messages_match_peer_byte_for_byte() -> None:
    assert open_message().serialize() == '{"type":"OPEN"}'
    assert id_taken_message().serialize() == '{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}'
    assert error_message("Invalid key provided").serialize() == (
        '{"type":"ERROR","payload":{"msg":"Invalid key provided"}}'
    )


def test_relayed_message_keeps_type_src_dst_payload_only() -> None:
    message = ClientMessage.parse('{"type":"OFFER","dst":"b","payload":{"sdp":{}},"extra":1}')
    out = json.loads(relayed(message, "a").serialize())
    assert out == {"type": "OFFER", "src": "a", "dst": "b", "payload": {"sdp": {}}}


def test_heartbeat_and_leave_without_dst_parse() -> None:
    assert ClientMessage.parse('{"type":"HEARTBEAT"}').type is MessageType.HEARTBEAT
    assert ClientMessage.parse('{"type":"LEAVE"}').dst is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "malformed JSON"),
        ("[]", "JSON object"),
        ('{"type": 3}', "type"),
        ('{"type": "NOPE"}', "unknown message type"),
        ('{"type": "OPEN"}', "may not send"),
        ('{"type": "ID-TAKEN"}', "may not send"),
        ('{"type": "OFFER", "payload": {}}', "needs a 'dst'"),
        ('{"type": "OFFER", "dst": 5, "payload": {}}', "'dst' must be a string"),
        ('{"type": "OFFER", "dst": "a b!", "payload": {}}', "not a valid peer id"),
        ('{"type": "ANSWER", "dst": "b", "payload": "x"}', "object 'payload'"),
        ("[" * 100000 + "]" * 100000, "malformed JSON"),
    ],
)
def test_bad_client_messages_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        ClientMessage.parse(text)


def test_ids_and_tokens() -> None:
    assert is_valid_id("abc123") and is_valid_id("0fdf9f41-cf5d-401c-ae60-1e2d9f2fa802")
    assert is_valid_id("with space") and not is_valid_id(" lead") and not is_valid_id("a--b")
    assert not is_valid_id("") and not is_valid_id("x" * 65) and not is_valid_id("é")
    assert is_valid_token("k2j4h5") and not is_valid_token("a/b") and not is_valid_token("")


def test_server_message_parse_round_trip() -> None:
    message = ServerMessage(MessageType.CANDIDATE, "a", "b", {"candidate": {"candidate": "x"}})
    assert ServerMessage.parse(message.serialize()) == message
    assert ServerMessage.parse(error_message("boom").serialize()).error_text == "boom"
    with pytest.raises(ProtocolError):
        ServerMessage.parse('{"type":"WHAT"}')
    with pytest.raises(ProtocolError):
        ServerMessage.parse('{"type":"OPEN","src":1}')


def test_refusals_for_now_are_told_from_final_ones() -> None:
    for text in (
        ErrorText.REGISTRATION_RATE,
        ErrorText.IP_LIMIT_EXCEED,
        ErrorText.CONNECTION_LIMIT_EXCEED,
        ErrorText.READ_BUFFERS_FULL,
        ErrorText.CLUSTER_UNAVAILABLE,
        "Overloaded, please Try Again later",  # another server's wording
    ):
        assert is_retryable_refusal(text), text
    for text in (
        ErrorText.INVALID_KEY,
        ErrorText.INVALID_TOKEN,
        ErrorText.INVALID_ID,
        ErrorText.INVALID_WS_PARAMETERS,
        ErrorText.ORIGIN_NOT_ALLOWED,
        "",
    ):
        assert not is_retryable_refusal(text), text
