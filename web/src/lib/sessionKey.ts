/**
 * The browser's session key (DESIGN §8): ECDSA P-256 made with WebCrypto, private key non-extractable.
 * Its public key (SubjectPublicKeyInfo DER, base64url) goes into the SIWE login; each bet is signed with
 * it: ECDSA/SHA-256 over the canonical bet text, raw r || s (64 bytes, WebCrypto's format), base64url.
 */
import { toBase64Url } from './base64url';

const ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface SessionKey {
  privateKey: CryptoKey;
  spki: string; // base64url SubjectPublicKeyInfo
}

export async function createSessionKey(subtle: SubtleCrypto = crypto.subtle): Promise<SessionKey> {
  const pair = await subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
  const spki = new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
  return { privateKey: pair.privateKey, spki: toBase64Url(spki) };
}

/** base64url of the 64-byte raw r || s signature over the UTF-8 text. */
export async function signText(
  privateKey: CryptoKey,
  text: string,
  subtle: SubtleCrypto = crypto.subtle,
): Promise<string> {
  const signature = await subtle.sign(SIGN, privateKey, new TextEncoder().encode(text));
  return toBase64Url(new Uint8Array(signature));
}

export async function verifyText(
  publicKey: CryptoKey,
  text: string,
  signature: Uint8Array,
  subtle: SubtleCrypto = crypto.subtle,
): Promise<boolean> {
  return subtle.verify(SIGN, publicKey, signature as BufferSource, new TextEncoder().encode(text));
}
