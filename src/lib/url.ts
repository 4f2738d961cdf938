/** An http(s) URL without its user info or query string (where a token could hide), for logs, errors and status. */
export function redactUrl (text: string): string {
  if (!/^https?:\/\//i.test(text)) return text
  try {
    const url = new URL(text)
    url.username = ''
    url.password = ''
    url.search = ''
    return url.href
  } catch {
    return '(invalid URL)'
  }
}
