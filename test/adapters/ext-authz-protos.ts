/**
 * proto/ is a subset of Envoy's and gRPC's protos: every message, field, enum
 * value and method it declares must be the upstream one, by number, type,
 * label and oneof, or Envoy and Keygate would read different things from the
 * same bytes. Upstream: @grpc/grpc-js-xds's deps/ (Envoy, googleapis) and
 * grpc-health-check's health.proto.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import protobuf from 'protobufjs'
import t from 'tap'
import { PROTO_DIR } from '../../src/server/grpc.js'
import { UPSTREAM_HEALTH_PROTO, UPSTREAM_INCLUDE_DIRS } from '../helpers/ext-authz.js'

function load (files: string[], dirs: string[]): protobuf.Root {
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => {
    if (target.startsWith('/')) return target
    return dirs.map((dir) => join(dir, target)).find((path) => existsSync(path)) ?? target
  }
  root.loadSync(files, { keepCase: true })
  root.resolveAll()
  return root
}

const FILES = ['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto']
const ours = load(FILES, [PROTO_DIR])
const upstream = load(['envoy/service/auth/v3/external_auth.proto', UPSTREAM_HEALTH_PROTO], UPSTREAM_INCLUDE_DIRS)

/** Every message, enum and service declared in proto/ (not the well-known types protobufjs brings). */
function declared (namespace: protobuf.NamespaceBase): protobuf.ReflectionObject[] {
  const found: protobuf.ReflectionObject[] = []
  for (const object of namespace.nestedArray) {
    if (object.filename !== null && !object.filename.startsWith(PROTO_DIR)) continue
    if (object instanceof protobuf.Type || object instanceof protobuf.Enum || object instanceof protobuf.Service) found.push(object)
    if (object instanceof protobuf.Namespace) found.push(...declared(object))
  }
  return found
}

function typeName (field: protobuf.Field): string {
  return field.resolvedType === null ? field.type : field.resolvedType.fullName
}

t.test('every declaration in proto/ is the upstream one', async (t) => {
  const objects = declared(ours)
  t.ok(objects.length >= 20, `${objects.length} declarations compared`)
  for (const object of objects) {
    const name = object.fullName
    const theirs = upstream.lookup(name)
    t.ok(theirs, `${name} exists upstream`)
    if (object instanceof protobuf.Type) {
      t.type(theirs, protobuf.Type, name)
      for (const field of object.fieldsArray) {
        const other = (theirs as protobuf.Type).fields[field.name]
        if (other === undefined) {
          t.fail(`${name}.${field.name} is not an upstream field`)
          continue
        }
        t.same({
          id: field.id,
          type: typeName(field),
          repeated: field.repeated,
          map: field.map ? (field as unknown as protobuf.MapField).keyType : null,
          oneof: field.partOf?.name ?? null
        }, {
          id: other.id,
          type: typeName(other),
          repeated: other.repeated,
          map: other.map ? (other as unknown as protobuf.MapField).keyType : null,
          oneof: other.partOf?.name ?? null
        }, `${name}.${field.name}`)
      }
    } else if (object instanceof protobuf.Enum) {
      t.type(theirs, protobuf.Enum, name)
      for (const [value, number] of Object.entries(object.values)) {
        t.equal((theirs as protobuf.Enum).values[value], number, `${name}.${value}`)
      }
    } else if (object instanceof protobuf.Service) {
      t.type(theirs, protobuf.Service, name)
      for (const method of object.methodsArray) {
        const other = (theirs as protobuf.Service).methods[method.name]
        t.same(
          { request: method.resolvedRequestType?.fullName, response: method.resolvedResponseType?.fullName, streams: [!!method.requestStream, !!method.responseStream] },
          { request: other?.resolvedRequestType?.fullName, response: other?.resolvedResponseType?.fullName, streams: [!!other?.requestStream, !!other?.responseStream] },
          `${name}/${method.name}`)
      }
    }
  }
})

t.test('the fields Keygate reads and writes are all there', async (t) => {
  const http = ours.lookupType('envoy.service.auth.v3.AttributeContext.HttpRequest')
  t.same(Object.keys(http.fields).sort(), ['header_map', 'headers', 'host', 'id', 'method', 'path', 'protocol', 'scheme'])
  const ok = ours.lookupType('envoy.service.auth.v3.OkHttpResponse')
  t.same(Object.keys(ok.fields).sort(), ['headers', 'headers_to_remove', 'response_headers_to_add'])
  t.ok(ours.lookupType('envoy.service.auth.v3.CheckResponse').fields.dynamic_metadata)
})
