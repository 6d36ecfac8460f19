// Small DOM helpers the pages share.

export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

export function setIfChanged(target: DOMStringMap, key: string, value: string): void {
  if (target[key] !== value) target[key] = value;
}

export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
