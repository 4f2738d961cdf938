import t from 'tap'
import { redactUrl } from '../../src/lib/url.js'

t.test('a URL loses its user info and query string, whatever its scheme', async (t) => {
  t.equal(redactUrl('postgres://keygate:s3cret@db:5432/keygate?sslmode=require&password=s3cret'), 'postgres://db:5432/keygate')
  t.equal(redactUrl('https://token@collector.example/ingest?key=s3cret#x'), 'https://collector.example/ingest#x')
  t.equal(redactUrl('http://127.0.0.1:8181/bundle.tar.gz'), 'http://127.0.0.1:8181/bundle.tar.gz')
})

t.test('text that is no scheme:// URL is kept; a malformed URL is not', async (t) => {
  t.equal(redactUrl('/srv/policy/bundle.tar.gz'), '/srv/policy/bundle.tar.gz')
  t.equal(redactUrl('http://user:s3cret@[::1'), '(invalid URL)')
})
