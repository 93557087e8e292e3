from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clicksift.errors import ConfigError, TokenError
from clicksift.tokens import Action, Claims, Signer, SigningKey, generate_key, parse_keys

KEY_A = SigningKey("a", b"0123456789abcdef-secret-a")
KEY_B = SigningKey("b", b"0123456789abcdef-secret-b")

message_ids = st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode()) <= 200)
urls = st.builds(lambda host, path: f"https://{host}/{path}",
                 st.from_regex(r"[a-z]{1,12}\.[a-z]{2,5}", fullmatch=True),
                 st.text(max_size=300))
claims = st.one_of(
    st.builds(Claims, st.just(Action.CLICK), message_ids, st.integers(0, 2**32 - 1),
              st.integers(0, 10_000), st.sampled_from(["content", "honeypot", "unsubscribe"]),
              urls),
    st.builds(lambda action, message_id, issued_at: Claims(action, message_id, issued_at),
              st.sampled_from([Action.OPEN, Action.UNSUBSCRIBE]), message_ids,
              st.integers(0, 2**32 - 1)),
)


def _decoded(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _encoded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@given(claims)
def test_round_trip_keeps_every_claim(original: Claims) -> None:
    signer = Signer([KEY_A])
    token = signer.sign(original)
    assert token.isascii() and all(c.isalnum() or c in "-_" for c in token)
    decoded = signer.verify(token)
    assert decoded == Claims(original.action, original.message_id, original.issued_at,
                             original.link_index, original.link_kind, original.url, "a")


@settings(max_examples=300)
@given(claims, st.data())
def test_any_changed_byte_is_rejected(original: Claims, data: st.DataObject) -> None:
    signer = Signer([KEY_A])
    raw = bytearray(_decoded(signer.sign(original)))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(TokenError):
        signer.verify(_encoded(bytes(raw)))


@given(claims, st.data())
def test_truncated_and_extended_tokens_are_rejected(original: Claims, data: st.DataObject) -> None:
    signer = Signer([KEY_A])
    token = signer.sign(original)
    cut = data.draw(st.integers(0, len(token) - 1))
    with pytest.raises(TokenError):
        signer.verify(token[:cut])
    with pytest.raises(TokenError):
        signer.verify(token + data.draw(st.sampled_from(["A", "AA", "Zm9v"])))


@given(claims, st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
def test_any_changed_character_is_rejected_even_in_unused_bits(original: Claims, char: str) -> None:
    signer = Signer([KEY_A])
    token = signer.sign(original)
    if token[-1] != char:
        with pytest.raises(TokenError):
            signer.verify(token[:-1] + char)


@given(st.text(max_size=400))
def test_arbitrary_text_never_verifies(text: str) -> None:
    with pytest.raises(TokenError):
        Signer([KEY_A]).verify(text)


def test_a_token_for_another_url_cannot_be_forged_by_editing_the_payload() -> None:
    signer = Signer([KEY_A])
    token = signer.sign(Claims(Action.CLICK, "m1", 1_700_000_000, 0, "content",
                               "https://shop.example.com/"))
    raw = _decoded(token)
    forged = raw[:-16].replace(b"https://shop.example.com/", b"https://evil.example.net/")
    with pytest.raises(TokenError, match="signature"):
        signer.verify(_encoded(forged + raw[-16:]))


def test_rotation_signs_with_first_key_and_verifies_with_any() -> None:
    old = Signer([KEY_A])
    rotated = Signer([KEY_B, KEY_A])
    old_token = old.sign(Claims(Action.OPEN, "m1", 1))
    new_token = rotated.sign(Claims(Action.OPEN, "m1", 1))
    assert rotated.verify(old_token).key_id == "a"
    assert rotated.verify(new_token).key_id == "b"
    with pytest.raises(TokenError, match="unknown key"):
        Signer([KEY_A]).verify(new_token)


def test_same_key_id_with_another_secret_is_rejected() -> None:
    token = Signer([KEY_A]).sign(Claims(Action.OPEN, "m1", 1))
    with pytest.raises(TokenError, match="signature"):
        Signer([SigningKey("a", b"another-secret-of-16-bytes")]).verify(token)


def test_parse_keys_and_generated_keys() -> None:
    keys = parse_keys(f"{generate_key('new')}, {generate_key('old')}")
    assert [k.id for k in keys] == ["new", "old"]
    with pytest.raises(ConfigError, match="id:secret"):
        parse_keys("no-separator")
    with pytest.raises(ConfigError, match="unique"):
        parse_keys("a:0123456789abcdefgh,a:0123456789abcdefgh")
    with pytest.raises(ConfigError, match="too short"):
        parse_keys("a:short")
    with pytest.raises(ConfigError, match="letters"):
        parse_keys("bad id:0123456789abcdefgh")


def test_signer_needs_a_key() -> None:
    with pytest.raises(ConfigError):
        Signer([])


@given(claims)
def test_only_the_canonical_spelling_verifies(original: Claims) -> None:
    """Padding appended, or the standard alphabet's '+' and '/', name the same bytes but
    are other spellings: refused (docs/tracking.md: one spelling per token)."""
    signer = Signer([KEY_A])
    token = signer.sign(original)
    assert signer.verify(token).message_id == original.message_id      # the near miss
    padded = token + "=" * (-len(token) % 4 or 4)
    standard = token.replace("-", "+").replace("_", "/")
    for other in {padded, token + "==", standard} - {token}:
        with pytest.raises(TokenError):
            signer.verify(other)


def test_click_ids_are_signed_and_verified_with_any_configured_key() -> None:
    from clicksift.tokens import Signer, generate_key, parse_keys

    old, new = generate_key("k1"), generate_key("k2")
    before = Signer(parse_keys(old))
    after = Signer(parse_keys(f"{new},{old}"))            # rotated: k2 signs, k1 still reads
    click_id = "0196f2a1b2c3d4e5f60718293a4b5c6d"
    signed = before.sign_click_id(click_id)
    assert len(signed) == 52 and signed.startswith(click_id)
    assert after.verify_click_id(signed) == click_id
    assert after.verify_click_id(after.sign_click_id(click_id)) == click_id
    assert Signer(parse_keys(new)).verify_click_id(signed) is None        # key retired
    other = "f" + click_id[1:]
    assert before.verify_click_id(other + signed[32:]) is None           # id swapped
    assert before.verify_click_id(signed[:-1] + ("0" if signed[-1] != "0" else "1")) is None
