/// <reference lib="dom" />
/**
 * The page's two modal dialogs: "sign elsewhere" (show a transaction, take the signed one back) and
 * "confirm" (a last look before an unbonding or a withdraw, with the withdraw's own fee rate).
 * A dialog closes only on its own buttons or Escape; an answer that fails its check keeps it open
 * with the reason inside it, beside the field it is about.
 */
import { $, button, h } from './dom.ts';
import { errorText } from './state.ts';
import { checkFeeRate } from './validate.ts';
import type { ManualStep, ManualUi } from './wallet.ts';

interface Field {
  readonly name: string;
  readonly el: HTMLInputElement | HTMLTextAreaElement;
}

/**
 * Runs one dialog until it is answered: resolves with what `accept` returns, rejects with
 * 'cancelled' on Cancel or Escape. `accept` throwing shows its sentence in `errorId`.
 */
function runDialog<T>(
  dialogId: string,
  fields: readonly Field[],
  errorId: string,
  accept: (values: Record<string, string>) => T,
): Promise<T> {
  const dialog = $<HTMLDialogElement>(dialogId);
  const form = dialog.querySelector('form')!;
  const cancel = dialog.querySelector<HTMLButtonElement>('button.cancel')!;
  const error = $(errorId);
  const setError = (text: string) => {
    error.textContent = text;
    for (const f of fields) {
      if (text) {
        f.el.setAttribute('aria-invalid', 'true');
        f.el.setAttribute('aria-describedby', errorId);
      } else {
        f.el.removeAttribute('aria-invalid');
        f.el.removeAttribute('aria-describedby');
      }
    }
  };
  setError('');
  dialog.showModal();
  (fields[0]?.el ?? dialog.querySelector<HTMLButtonElement>('button[type=submit]'))?.focus();
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
    };
    const onSubmit = (ev: Event) => {
      ev.preventDefault();
      const values = Object.fromEntries(fields.map((f) => [f.name, f.el.value]));
      if (fields.some((f) => f.el.value.trim() === '')) {
        setError('Fill in every field.');
        return;
      }
      let answer: T;
      try {
        answer = accept(values);
      } catch (e) {
        setError(e instanceof DialogProblem ? e.message : errorText(e));
        return;
      }
      done();
      resolve(answer);
    };
    const onCancel = (ev: Event) => {
      ev.preventDefault();
      done();
      reject(new Error('cancelled'));
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    // Escape: the browser would close the dialog by itself and leave the flow waiting.
    dialog.addEventListener('cancel', onCancel);
  });
}

/** The sign-elsewhere provider's dialog. */
export const manualUi: ManualUi = {
  ask(step: ManualStep): Promise<Record<string, string>> {
    $('manual-title').textContent = step.title;
    $('manual-explain').textContent = step.explain;
    $('manual-show').hidden = !step.show;
    $('manual-show-label').textContent = step.show?.label ?? '';
    $<HTMLTextAreaElement>('manual-show-value').value = step.show?.value ?? '';
    $('manual-submit').textContent = step.submitLabel;
    const fields = step.fields.map((f) => {
      const el = h(f.name === 'signed' ? 'textarea' : 'input', {
        name: f.name,
        id: `manual-field-${f.name}`,
        rows: f.name === 'signed' ? '5' : undefined,
        autocomplete: 'off',
        spellcheck: 'false',
      }) as HTMLInputElement;
      return { name: f.name, el, label: h('label', {}, f.label, el) };
    });
    $('manual-fields').replaceChildren(...fields.map((f) => f.label));
    const copy = button('manual-copy');
    const onCopy = () => void navigator.clipboard?.writeText(step.show?.value ?? '').catch(() => undefined);
    copy.addEventListener('click', onCopy);
    return runDialog('manual', fields, 'manual-error', (values) => {
      step.accept?.(values);
      return values;
    }).finally(() => copy.removeEventListener('click', onCopy));
  },
};

export interface ConfirmOptions {
  readonly title: string;
  readonly body: ReadonlyArray<Node | string>;
  readonly confirmLabel: string;
  /** A fee-rate field (sat/vB) with this starting value; its parsed value is what resolves. */
  readonly feeRate?: string;
}

/** A refusal of what was typed into a dialog: shown as written, beside the field. */
export class DialogProblem extends Error {}

/** Asks for a yes (and a fee rate, when asked for one); rejects with 'cancelled' on a no. */
export function confirmDialog(o: ConfirmOptions): Promise<{ feeRate?: number }> {
  $('confirm-title').textContent = o.title;
  $('confirm-body').replaceChildren(...o.body.map((b) => (typeof b === 'string' ? h('p', {}, b) : b)));
  $('confirm-submit').textContent = o.confirmLabel;
  const fields: Field[] = [];
  if (o.feeRate !== undefined) {
    const el = h('input', {
      id: 'confirm-fee-rate',
      name: 'feeRate',
      inputmode: 'decimal',
      autocomplete: 'off',
      value: o.feeRate,
    }) as HTMLInputElement;
    fields.push({ name: 'feeRate', el });
    $('confirm-fields').replaceChildren(h('label', {}, 'Fee rate (sat/vB)', el));
  } else {
    $('confirm-fields').replaceChildren();
  }
  return runDialog('confirm', fields, 'confirm-error', (values) => {
    if (o.feeRate === undefined) return {};
    const fee = checkFeeRate(values.feeRate ?? '');
    if ('problem' in fee) throw new DialogProblem(fee.problem.message);
    return { feeRate: fee.feeRate };
  });
}
