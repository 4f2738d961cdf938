import { PolicyFault } from './errors.js'
import type { PolicyDecision } from './input.js'

const CODE_FOR_STATUS: Readonly<Record<number, string>> = { 200: 'OK', 400: 'INVALID_REQUEST', 401: 'NOT_AUTHENTICATED', 403: 'NOT_AUTHORIZED', 429: 'RATE_LIMITED' }
const ACTION_CLASSES = new Set(['read', 'write', 'manage', 'admin'])
const DECISION_KEYS = new Set(['allow', 'status', 'code', 'reasons', 'subject', 'actor', 'action'])
const ACTION_KEYS = 3 // resource, verb, class
const REASON_KEYS = 2 // code, msg

/**
 * Checks an opa-wasm result set (`[{result: decision}]`) and returns the
 * decision. Anything else, including a decision that contradicts itself,
 * is a PolicyFault: a malformed decision is never read as allow or deny.
 */
export function toDecision (resultSet: unknown): PolicyDecision {
  if (!Array.isArray(resultSet) || resultSet.length !== 1) {
    throw new PolicyFault(resultSet === undefined || (Array.isArray(resultSet) && resultSet.length === 0)
      ? 'policy decision is undefined'
      : 'policy returned an unexpected result set')
  }
  const d = (resultSet[0] as { result?: unknown } | null)?.result
  if (!isRecord(d)) fault('is not an object')

  let keys = 0
  for (const key in d) {
    if (!DECISION_KEYS.has(key)) fault(`has an unknown field "${key}"`)
    keys++
  }
  if (keys !== DECISION_KEYS.size) fault('lacks a field')

  if (typeof d.allow !== 'boolean') fault('allow is not a boolean')
  const expectedCode = CODE_FOR_STATUS[d.status as number]
  if (expectedCode === undefined) fault('status is not 200, 400, 401, 403 or 429')
  if (d.code !== expectedCode) fault('code does not match status')
  if (d.allow !== (d.status === 200)) fault('allow does not match status')

  if (!Array.isArray(d.reasons)) fault('reasons is not an array')
  for (const r of d.reasons) {
    if (!isRecord(r) || typeof r.code !== 'string' || r.code === '' || typeof r.msg !== 'string' || Object.keys(r).length !== REASON_KEYS) {
      fault('has a malformed reason')
    }
  }
  if (!d.allow && d.reasons.length === 0) fault('denies without a reason')

  if (d.subject !== null && typeof d.subject !== 'string') fault('subject is not a string or null')
  if (d.actor !== null && typeof d.actor !== 'string') fault('actor is not a string or null')
  if (d.actor !== null && (d.subject === null || d.actor === d.subject)) fault('actor without a distinct subject')

  const a = d.action
  if (a !== null) {
    if (!isRecord(a) || typeof a.resource !== 'string' || typeof a.verb !== 'string' ||
      !ACTION_CLASSES.has(a.class as string) || Object.keys(a).length !== ACTION_KEYS) {
      fault('action is malformed')
    }
  }
  if (d.allow && (typeof d.subject !== 'string' || d.subject === '' || a === null)) fault('allows without a subject and an action')

  return d as unknown as PolicyDecision
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function fault (problem: string): never {
  throw new PolicyFault(`policy decision ${problem}`)
}
