// What the pages' scripts share (they import it: the pages load their scripts as modules, from /static/ only).

/** A status line's writer: the same text again is left alone, since some screen readers announce a live region
 * whenever its text is replaced. */
export function statusWriter(status) {
  return (text, isError) => {
    if (status.textContent !== text) status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  };
}

/** The dashboard's message in a refusal (`{error}`), or the HTTP status when it sent none. */
export async function messageOf(response) {
  try {
    const body = await response.json();
    return body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
