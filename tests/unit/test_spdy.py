"""SPDY/3.1 framing and header compression, checked against bytes the real kubectl sends."""

from __future__ import annotations

import zlib

import pytest

from cluster.nodeagent.streaming import spdy

# The first frames of a real `kubectl port-forward` (v1.37) session, as tunnelled to the agent: the
# error stream's SYN_STREAM, its FIN, and the data stream's SYN_STREAM, whose header block continues
# the same zlib stream.
KUBECTL_FRAMES = bytes.fromhex(
    "80030001000000400000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45a024cc6a"
    "62646864cec0c0c0590489c74c50fa663400000000ffff"
    "0000000101000000"
    "800300010000001a0000000300000000000082ea264219aa05a0b22a11000000ffff"
)


def test_dictionary_is_the_one_client_go_primes_zlib_with():
    assert len(spdy.DICTIONARY) == 1423
    # A zlib stream names its preset dictionary by Adler-32 right after the 2-byte header.
    dictid = int.from_bytes(KUBECTL_FRAMES[20:24], "big")
    assert KUBECTL_FRAMES[18:20] == b"\x78\xf9"
    assert zlib.adler32(spdy.DICTIONARY) == dictid == 0xE3C6A7C2


def test_decodes_kubectl_port_forward_streams():
    frames = spdy.FrameReader().feed(KUBECTL_FRAMES)
    assert frames == [
        spdy.SynStream(1, {"streamtype": ["error"], "port": ["42127"], "requestid": ["0"]}),
        spdy.DataFrame(1, b"", spdy.FLAG_FIN),
        spdy.SynStream(3, {"port": ["42127"], "requestid": ["0"], "streamtype": ["data"]}),
    ]
    assert spdy.header_value(frames[0].headers, "streamType") == "error"
    assert spdy.header_value(frames[0].headers, "requestID") == "0"
    assert spdy.header_value(frames[0].headers, "missing") == ""


def test_frames_split_anywhere_are_reassembled():
    reader = spdy.FrameReader()
    frames = []
    for i in range(len(KUBECTL_FRAMES)):
        frames += reader.feed(KUBECTL_FRAMES[i:i + 1])
    assert frames == spdy.FrameReader().feed(KUBECTL_FRAMES)


@pytest.mark.parametrize("frame", [
    spdy.DataFrame(5, b"payload"),
    spdy.DataFrame(5, b"", spdy.FLAG_FIN),
    spdy.SynStream(7, {"streamtype": ["data"], "port": ["8080"]}, associated_to=1, priority=3, slot=2,
                   flags=spdy.FLAG_FIN),
    spdy.SynReply(7, {}),
    spdy.SynReply(9, {"status": ["200"]}, spdy.FLAG_FIN),
    spdy.HeadersFrame(9, {"x-extra": ["a", "b"]}),
    spdy.RstStream(7, spdy.CANCEL),
    spdy.Settings([(0, 7, 65536), (1, 4, 100)]),
    spdy.Ping(3),
    spdy.GoAway(11, 0),
    spdy.WindowUpdate(7, 65536),
])
def test_every_frame_type_round_trips(frame):
    assert spdy.FrameReader().feed(spdy.FrameWriter().encode(frame)) == [frame]


def test_control_frame_header_layout():
    assert spdy.FrameWriter().encode(spdy.Ping(3)) == bytes.fromhex("80030006" "00000004" "00000003")
    assert spdy.FrameWriter().encode(spdy.RstStream(5, spdy.CANCEL)) == bytes.fromhex(
        "80030003" "00000008" "00000005" "00000005")
    assert spdy.encode_data(3, b"hi", fin=True) == bytes.fromhex("00000003" "01000002") + b"hi"


def test_header_blocks_share_one_compression_stream_per_direction():
    writer, reader = spdy.FrameWriter(), spdy.FrameReader()
    first = writer.encode(spdy.SynReply(1, {"a": ["1"]}))
    second = writer.encode(spdy.SynReply(3, {"a": ["1"], "b": ["two", "values"]}))
    assert reader.feed(first + second) == [spdy.SynReply(1, {"a": ["1"]}),
                                           spdy.SynReply(3, {"a": ["1"], "b": ["two", "values"]})]
    # The second block continues the first one's zlib stream: alone it cannot be inflated.
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(second)


def test_header_block_encoding_lower_cases_names_and_joins_values_with_nul():
    block = spdy.encode_header_block({"StreamType": ["data"], "X": ["a", "b"]})
    assert block == (b"\x00\x00\x00\x02" b"\x00\x00\x00\x0astreamtype" b"\x00\x00\x00\x04data"
                     b"\x00\x00\x00\x01x" b"\x00\x00\x00\x03a\x00b")
    assert spdy.decode_header_block(block) == {"streamtype": ["data"], "x": ["a", "b"]}
    # What we compress, plain zlib with the dictionary inflates.
    compressed = spdy.HeaderCompressor().compress({"port": ["80"]})
    assert spdy.decode_header_block(zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(compressed)) == {
        "port": ["80"]}


def test_unknown_control_frames_are_skipped_and_other_versions_refused():
    unknown = bytes.fromhex("8003000a" "00000002") + b"xx"
    assert spdy.FrameReader().feed(unknown + spdy.FrameWriter().encode(spdy.Ping(1))) == [spdy.Ping(1)]
    with pytest.raises(spdy.ProtocolError, match="SPDY version 2 is not supported"):
        spdy.FrameReader().feed(bytes.fromhex("80020006" "00000004" "00000001"))
    with pytest.raises(spdy.ProtocolError, match="malformed header block"):
        spdy.decode_header_block(b"\x00\x00\x00\x05")
