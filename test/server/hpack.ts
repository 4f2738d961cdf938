/**
 * HPACK against RFC 7541's own examples (Appendix C): the decoder's tables
 * and Huffman code, and the literals Keygate answers with.
 */
import t from 'tap'
import { encodeFields, HpackDecoder, HpackError } from '../../src/server/hpack.js'

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex')

t.test('C.3 and C.4: three requests on one connection, plain and Huffman, the dynamic table shared', async (t) => {
  const blocks = {
    plain: ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'],
    huffman: ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']
  }
  const expected = [
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]
  ]
  for (const [name, list] of Object.entries(blocks)) {
    const decoder = new HpackDecoder()
    list.forEach((block, i) => { t.same(decoder.decode(hex(block)), expected[i], `${name} ${i + 1}`) })
  }
})

t.test('C.6: responses with Huffman, eviction from a 256-octet table', async (t) => {
  const decoder = new HpackDecoder(256)
  t.same(decoder.decode(hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3')), [
    [':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']
  ])
  t.same(decoder.decode(hex('4883 640e ffc1 c0bf')), [
    [':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']
  ], '"307" added, the others by their new indexes')
  t.throws(() => decoder.decode(hex('c2')), HpackError, '":status: 302" evicted to make room')
})

t.test('blocks that break the compression state are refused', async (t) => {
  const cases: Record<string, string> = {
    'an index past the tables': 'be',
    'index 0': '80',
    'a truncated string': '400a 6375 7374',
    'an integer that does not end': '1fff ffff ffff',
    'Huffman padding that is not ones': '0081 00',
    'Huffman padding of 8 bits or more': '0082 ffff',
    'a table size update after a field': '8220',
    'a table size larger than advertised': '3fe2 1f'
  }
  for (const [name, block] of Object.entries(cases)) t.throws(() => new HpackDecoder().decode(hex(block)), HpackError, name)
  t.same(new HpackDecoder().decode(hex('3fe1 0f82')), [[':method', 'GET']], 'a size update (to 2048) before the first field is fine')
})

t.test('encodeFields: literals without indexing that any decoder reads back the same', async (t) => {
  const fields: Array<[string, string]> = [[':status', '200'], [':status', '415'], ['content-type', 'application/grpc'], ['grpc-status', '14'], ['grpc-message', 'x'.repeat(300)]]
  const block = encodeFields(fields)
  t.equal(block[0], 0x88, ':status 200 by its static index')
  t.same(new HpackDecoder().decode(block), fields)
  const decoder = new HpackDecoder()
  decoder.decode(block)
  t.throws(() => decoder.decode(hex('be')), HpackError, 'nothing entered the dynamic table')
})
