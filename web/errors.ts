/** The dashboard's own error codes (web/README.md); each message is shown to the person as it is. */
export const WEB_ERRORS = {
  WEB_API_ERROR: 'The staking API refused a request or could not be reached.',
  WEB_WALLET_REFUSED: 'The wallet refused or failed a request (the person declined, or it is locked).',
  WEB_WALLET_UNSUPPORTED: 'The wallet lacks a capability the dashboard needs (e.g. listing its coins).',
  WEB_WALLET_KEY: 'The wallet’s public key is not a valid secp256k1 key.',
  WEB_ADDRESS:
    'An address does not belong to the staking system’s network, or is not one the dashboard can spend.',
  WEB_INSUFFICIENT_FUNDS: 'The wallet’s coins at its address do not cover the stake and its fee.',
  WEB_PSBT_INVALID:
    'What came back from the wallet is not a PSBT or transaction, or not the one that was built.',
  WEB_SIGNATURE_MISSING: 'The signed PSBT carries no signature of the staker’s key where one was asked for.',
  WEB_SIGNATURE_INVALID: 'A signature from the wallet does not verify for the staker’s key.',
  WEB_TIMELOCK_NOT_REACHED: 'A withdraw was asked for before the timelock allows it.',
} as const;

export type WebErrorCode = keyof typeof WEB_ERRORS;
