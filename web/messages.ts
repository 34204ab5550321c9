/// <reference lib="dom" />
/** The banner (what went wrong with the last thing a person did) and the notice (what went right). */
import { $ } from './dom.ts';
import { errorText } from './state.ts';

export function showError(e: unknown): void {
  showErrorText(errorText(e));
}

export function showErrorText(text: string): void {
  const b = $('banner');
  b.textContent = text;
  b.hidden = false;
}

export function clearError(): void {
  $('banner').hidden = true;
  $('banner').textContent = '';
}

export function notify(text: string): void {
  const n = $('notice');
  n.textContent = text;
  n.hidden = false;
}

/** A wallet or dialog closed by the person: not an error worth a banner. */
export function isCancel(e: unknown): boolean {
  return e instanceof Error && e.message === 'cancelled';
}

export async function orCancelled<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isCancel(e)) return undefined;
    throw e;
  }
}
