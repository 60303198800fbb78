// Building and showing the page: elements, the notice line, money and times.

const notice = document.getElementById("notice");

// h("button", { type: "button", onclick: f }, "Text", child, [children]): attributes starting with "on"
// become listeners; false/null attributes are left out, true ones are set empty.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value !== false && value != null) el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) el.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return el;
}

// The notice line above the screen: a message (text, or text and links) or nothing.
export function show(message, kind = "error") {
  notice.replaceChildren(...[].concat(message));
  notice.className = kind;
  notice.hidden = !message || (Array.isArray(message) && !message.length);
}

const WON = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }); // one formatter: the seat map formats thousands
export const money = (value) => `₩${WON.format(Number(value))}`;
export const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
export const go = (hash) => { location.hash = hash; };

export function formFields(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// Validation errors next to their fields (API.md: `details` maps a field to its messages).
export function fieldErrors(form, error) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  for (const [field, messages] of Object.entries(error?.details || {})) {
    const input = form.querySelector(`[name="${field}"]`);
    if (input) input.after(h("span", { class: "field-error" }, [].concat(messages).join(" ")));
  }
}
