// The PKCS#11 library as a process-wide resource: loaded once per library path, initialised while
// some token is open, and the look-up of a token's slot by its label.
import * as graphene from 'graphene-pk11';
import { hsmError } from '../errors.ts';
import { CKF_OS_LOCKING_OK, CKF_TOKEN_INITIALIZED, ckrOf, pkcs11Error } from './cryptoki.ts';

const modules = new Map<string, { module: graphene.Module; refs: number }>();

export function retainModule(library: string): graphene.Module {
  let entry = modules.get(library);
  if (!entry) {
    let module: graphene.Module;
    try {
      module = graphene.Module.load(library, 'pkcs11');
    } catch (cause) {
      throw hsmError('HSM_PKCS11_LIBRARY', `cannot load the PKCS#11 library ${library}`, {
        cause,
        details: { library },
      });
    }
    entry = { module, refs: 0 };
    modules.set(library, entry);
  }
  if (entry.refs === 0) {
    try {
      // C_Initialize(NULL) tells the library this process will not call it from several threads; graphene's
      // callback calls run on libuv worker threads, and that combination corrupted SoftHSM's heap in 10 of 12
      // runs (hardware-signing.md §2.4). OS locking makes the library lock for itself.
      entry.module.initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (cause) {
      throw hsmError(
        'HSM_PKCS11_LIBRARY',
        `cannot initialise the PKCS#11 library ${library}${ckrOf(cause) ? ` (${ckrOf(cause)})` : ''}`,
        {
          cause,
          details: { library, ckr: ckrOf(cause) },
        },
      );
    }
  }
  entry.refs++;
  return entry.module;
}

export function releaseModule(library: string): void {
  const entry = modules.get(library);
  if (!entry || entry.refs === 0) return;
  entry.refs--;
  if (entry.refs === 0) {
    try {
      entry.module.finalize();
    } catch {
      // Already finalised: nothing left to release.
    }
  }
}

export function tokenLabels(
  module: graphene.Module,
): { slot: graphene.Slot; label: string; initialized: boolean }[] {
  const out: { slot: graphene.Slot; label: string; initialized: boolean }[] = [];
  const slots = module.getSlots(true);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    const token = slot.getToken();
    out.push({ slot, label: token.label.trim(), initialized: (token.flags & CKF_TOKEN_INITIALIZED) !== 0 });
  }
  return out;
}

/** The slot of the token labelled `label`; slot ids are reassigned, labels are what operators set. */
export function findSlot(module: graphene.Module, label: string): graphene.Slot {
  let matches: ReturnType<typeof tokenLabels>;
  try {
    matches = tokenLabels(module).filter((t) => t.initialized && t.label === label);
  } catch (e) {
    throw pkcs11Error(e, 'listing the tokens');
  }
  if (matches.length === 0) {
    throw hsmError('HSM_TOKEN_NOT_FOUND', `no token labelled "${label}" is present`, {
      details: { token: label },
    });
  }
  if (matches.length > 1) {
    throw hsmError('HSM_LABEL_AMBIGUOUS', `${matches.length} tokens are labelled "${label}"`, {
      details: { token: label },
    });
  }
  return matches[0]!.slot;
}
