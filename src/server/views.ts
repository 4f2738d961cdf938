import type { KeyUsageReport } from '../audit/store.js'
import type { IssuedKey } from '../manage/keys.js'
import type { SessionInfo } from '../sessions/index.js'
import type { KeyRecord, Page, UserRecord } from '../store/types.js'

/** What the API shows of records: times in epoch milliseconds, as @chatbotkit/sdk reads them; never a key's secret or hash. */

export function partnerUserView (user: UserRecord): Record<string, unknown> {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    createdAt: user.createdAt.getTime(),
    updatedAt: user.updatedAt.getTime(),
    rateLimits: user.limits
  }
}

export function adminUserView (user: UserRecord): Record<string, unknown> {
  return {
    ...partnerUserView(user),
    parentId: user.parentId,
    role: user.role,
    status: user.status,
    restrictions: user.restrictions
  }
}

export function keyView (key: KeyRecord): Record<string, unknown> {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes,
    createdAt: key.createdAt.getTime(),
    updatedAt: key.updatedAt.getTime(),
    expiresAt: key.expiresAt?.getTime() ?? null,
    revokedAt: key.revokedAt?.getTime() ?? null,
    lastUsedAt: key.lastUsedAt?.getTime() ?? null,
    requestCount: key.useCount,
    rateLimits: key.limits
  }
}

export function sessionView (session: SessionInfo): Record<string, unknown> {
  return { id: session.id, allowedRoutes: session.allowedRoutes, createdAt: session.createdAt.getTime(), expiresAt: session.expiresAt.getTime() }
}

export function issuedKeyView (key: IssuedKey): Record<string, unknown> {
  return { id: key.id, token: key.token, createdAt: key.createdAt.getTime() }
}

export function pageView<T> (page: Page<T>, view: (item: T) => Record<string, unknown>): Record<string, unknown> {
  return page.nextCursor === null
    ? { items: page.items.map(view) }
    : { items: page.items.map(view), cursor: page.nextCursor }
}

export function keyUsageView (report: KeyUsageReport): Record<string, unknown> {
  return {
    id: report.keyId,
    lastUsedAt: report.lastUsedAt?.getTime() ?? null,
    requestCount: report.requests,
    days: report.days.map((d) => ({ day: d.day, requests: d.requests, denied: d.denied, lastUsedAt: d.lastUsedAt.getTime() }))
  }
}
