/**
 * A URL without its user info or query string (where a password or token
 * could hide), for logs, errors and status; text that is not a `scheme://`
 * URL (a file path) as it is.
 */
export function redactUrl (text: string): string {
  if (!/^[a-z][a-z\d+.-]*:\/\//i.test(text)) return text
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
