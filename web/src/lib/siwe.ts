/**
 * The Sign-In with Ethereum (EIP-4361) login message (DESIGN §8), written with viem's createSiweMessage
 * so that src/taptrade/auth/siwe_login.py parses it: domain = the page's host, URI = its origin, and
 * exactly one Resources entry carrying the browser's P-256 session key.
 */
import { type Address, getAddress } from 'viem';
import { createSiweMessage } from 'viem/siwe';

export const SESSION_KEY_RESOURCE_PREFIX = 'urn:taptrade:session-key:';
export const LOGIN_STATEMENT = 'Sign in to Tap Trading';
/** How long the signed message is valid; the server also caps a session at 24 h. */
export const LOGIN_VALID_MS = 24 * 60 * 60 * 1000;

export function sessionKeyResource(spkiBase64Url: string): string {
  return SESSION_KEY_RESOURCE_PREFIX + spkiBase64Url;
}

export interface LoginMessageInput {
  domain: string;
  uri: string;
  address: string;
  chainId: number;
  nonce: string;
  issuedAt: Date;
  expirationTime?: Date | undefined;
  sessionKeySpki: string;
  statement?: string;
}

export function loginMessage(input: LoginMessageInput): string {
  return createSiweMessage({
    domain: input.domain,
    uri: input.uri,
    address: getAddress(input.address) as Address,
    chainId: input.chainId,
    nonce: input.nonce,
    issuedAt: input.issuedAt,
    expirationTime: input.expirationTime,
    statement: input.statement ?? LOGIN_STATEMENT,
    version: '1',
    resources: [sessionKeyResource(input.sessionKeySpki)],
  });
}
