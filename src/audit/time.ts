import { HttpError } from '../errors.js'

const DURATION = /^([1-9][0-9]{0,5})(s|m|h|d)$/
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Epoch milliseconds or an RFC 3339 date-time; anything else is a 400 that names the field. */
export function parseTime (name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined
  const date = /^\d{1,15}$/.test(value) ? new Date(Number(value)) : /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN)
  if (Number.isNaN(date.getTime())) throw new HttpError('INVALID_REQUEST', `${name} must be epoch milliseconds or an RFC 3339 date-time`)
  return date
}

/** A time given as a duration back from `now` (`30m`, `24h`, `7d`), or as parseTime takes it. */
export function sinceOf (name: string, value: string, now = Date.now()): Date {
  const duration = DURATION.exec(value)
  if (duration !== null) return new Date(now - Number(duration[1]) * (UNIT_MS[duration[2] as string] as number))
  try {
    return parseTime(name, value) as Date
  } catch {
    throw new HttpError('INVALID_REQUEST', `${name} must be a duration (30m, 24h, 7d), epoch milliseconds or an RFC 3339 date-time`)
  }
}
