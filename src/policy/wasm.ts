import type { LoadedPolicy } from '@open-policy-agent/opa-wasm'

type OpaEval = (reserved: number, entrypoint: number, data: number, input: number, inputLength: number, heap: number, format: number) => number

const PAGE = 64 * 1024
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * JSON in, JSON out through OPA's single-call ABI (1.2+, `opa_eval`), the
 * same fast path as opa-wasm's own `evaluate`, minus its per-call encoder,
 * decoder and byte-by-byte scan. Built on a LoadedPolicy whose data is set:
 * every call writes the input just above the data and lets the evaluation
 * reuse the heap from there.
 */
export class WasmEvaluator {
  readonly #eval: OpaEval
  readonly #memory: WebAssembly.Memory
  readonly #dataAddr: number
  readonly #heapBase: number
  readonly #entrypoint: number
  #bytes: Uint8Array

  /** Returns null when the module does not offer the ABI 1.2 entry point. */
  static from (policy: LoadedPolicy, entrypoint: number): WasmEvaluator | null {
    const instance = (policy.wasmInstance as { instance?: WebAssembly.Instance }).instance ?? policy.wasmInstance as WebAssembly.Instance
    const opaEval = instance.exports.opa_eval
    if (typeof opaEval !== 'function' || !(policy.minorVersion >= 2)) return null
    return new WasmEvaluator(opaEval as OpaEval, policy.mem, policy.dataAddr, policy.dataHeapPtr as number, entrypoint)
  }

  private constructor (opaEval: OpaEval, memory: WebAssembly.Memory, dataAddr: number, heapBase: number, entrypoint: number) {
    this.#eval = opaEval
    this.#memory = memory
    this.#dataAddr = dataAddr
    this.#heapBase = heapBase
    this.#entrypoint = entrypoint
    this.#bytes = new Uint8Array(memory.buffer)
  }

  /** Throws whatever the module throws (opa_abort throws a string). */
  evaluate (inputJson: string): string {
    const base = this.#heapBase
    const room = base + inputJson.length * 3 // UTF-8 never needs more than 3 bytes per UTF-16 unit
    let bytes = this.#view()
    if (room > bytes.length) {
      this.#memory.grow(Math.ceil((room - bytes.length) / PAGE))
      bytes = this.#view()
    }
    const { written } = encoder.encodeInto(inputJson, bytes.subarray(base))
    const out = this.#eval(0, this.#entrypoint, this.#dataAddr, base, written, base + written, 0)
    bytes = this.#view() // the evaluation may have grown memory
    const end = bytes.indexOf(0, out)
    if (out <= 0 || end < 0) throw new Error('opa_eval returned no result')
    return decoder.decode(bytes.subarray(out, end))
  }

  #view (): Uint8Array {
    if (this.#bytes.buffer !== this.#memory.buffer) this.#bytes = new Uint8Array(this.#memory.buffer)
    return this.#bytes
  }
}
