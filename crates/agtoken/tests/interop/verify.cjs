'use strict'
// Checks tokens with Agora's official `agora-token` npm package (2.0.6).
// stdin:  JSON lines {"id", "token", "app_certificate"} (+ "channel_name", "uid" for 006 tokens)
// stdout: one JSON line per input: {"id", "ok", "error"?, "signature_valid", "structure"}
// Parsing and signing are done by the package's own code; this file only maps its objects to JSON.
// agora-token is CommonJS and its index.js does not export the token classes, hence the src/ paths.
const readline = require('readline')
const { AccessToken2 } = require('agora-token/src/AccessToken2')
const { AccessToken } = require('agora-token/src/AccessToken')

// AccessToken.fromString logs parse errors with console.log; keep stdout for results only.
console.log = (...args) => console.error(...args)

const SERVICE_NAMES = {
    1: 'rtc', 2: 'rtm', 3: 'streaming', 4: 'fpa', 5: 'chat',
    6: 'fcdn', 7: 'apaas', 8: 'rtm2', 9: 'convoai', 10: 'stt'
}

// ignoreBOM: keep a leading U+FEFF, which is part of the string the token holds (the default
// decoder would strip it and report a structure the token does not have).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// The package keeps parsed strings as Buffers.
const str = value => (Buffer.isBuffer(value) ? utf8.decode(value) : String(value))
// ReadByteBuf.getInt16 in 2.0.6 reads an unsigned value (-1 comes back as 65535).
const int16 = value => (value << 16) >> 16

function serviceJson(service) {
    const type = service.service_type()
    const out = { type, name: SERVICE_NAMES[type] }
    switch (type) {
        case 1:
            out.channel_name = str(service.__channel_name)
            out.uid = str(service.__uid)
            break
        case 2:
        case 5:
            out.user_id = str(service.__user_id)
            break
        case 3:
        case 6:
            out.channel_name = str(service.__channel_name)
            out.account = str(service.__account)
            break
        case 7:
            out.room_uuid = str(service.__room_uuid)
            out.user_uuid = str(service.__user_uuid)
            out.role = int16(service.__role)
            break
        case 8: {
            out.user_id = str(service.__user_id)
            out.permissions = {}
            for (const [resourceType, perms] of Object.entries(service.__permissions.details)) {
                out.permissions[resourceType] = {}
                for (const [permissionType, resources] of Object.entries(perms)) {
                    out.permissions[resourceType][permissionType] = resources.map(String)
                }
            }
            break
        }
    }
    out.privileges = { ...service.__privileges }
    return out
}

// from_string stops silently at an unknown service type and ignores trailing bytes; the signature
// is still checked over the original bytes. Re-pack the parsed services with the package's own
// Service.pack() and compare with the signed bytes, so nothing the parser skipped or altered goes
// unnoticed. Returns an error message or null.
function unconsumed(token) {
    const info = token.__signing_info
    const countAt = 2 + info.readUInt16LE(0) + 12 // app id, issue_ts, expire, salt
    const declared = info.readUInt16LE(countAt)
    let rest = info.subarray(countAt + 2)
    for (const service of token.services) {
        if (service.service_type() === 7) service.__role = int16(service.__role) // see int16 above
        const packed = service.pack()
        if (!rest.subarray(0, packed.length).equals(packed)) {
            return `service type ${service.service_type()} does not re-pack to the token's bytes`
        }
        rest = rest.subarray(packed.length)
    }
    if (token.services.length < declared) {
        const type = rest.length >= 2 ? rest.readUInt16LE(0) : '?'
        return `agora-token cannot parse service type ${type}: token declares ${declared} services, parser read ${token.services.length}`
    }
    if (rest.length) return `${rest.length} trailing bytes after the services`
    return null
}

function verify007(input) {
    const token = new AccessToken2()
    if (!token.from_string(input.token)) {
        return { ok: false, error: 'AccessToken2.from_string rejected the token', signature_valid: false }
    }
    const signature_valid = token.verifySignature(input.app_certificate)
    const structure = {
        app_id: str(token.appId),
        issue_ts: token.issueTs,
        expire: token.expire,
        salt: token.salt,
        services: token.services.map(serviceJson)
    }
    const error = unconsumed(token)
    return error ? { ok: false, error, signature_valid, structure } : { ok: true, signature_valid, structure }
}

function verify006(input) {
    const parsed = new AccessToken()
    if (!parsed.fromString(input.token)) {
        return { ok: false, error: 'AccessToken.fromString rejected the token', signature_valid: false }
    }
    const structure = {
        app_id: parsed.appID,
        salt: parsed.salt,
        ts: parsed.ts,
        privileges: { ...parsed.messages },
        crc_channel_name: parsed.crc_channel_name,
        crc_uid: parsed.crc_uid
    }
    if (typeof input.channel_name !== 'string' || input.uid === undefined) {
        return { ok: false, error: '006 needs "channel_name" and "uid" to check the signature', signature_valid: false, structure }
    }
    // The package has no 006 verify: rebuild with its own AccessToken.build() from the parsed
    // fields and compare the signature it computes with the one in the token.
    const rebuilt = new AccessToken(parsed.appID, input.app_certificate, input.channel_name, input.uid)
    rebuilt.salt = parsed.salt
    rebuilt.ts = parsed.ts
    rebuilt.messages = parsed.messages
    const expected = new AccessToken()
    expected.fromString(rebuilt.build())
    const signature_valid = expected.signature.equals(parsed.signature)
    let error = null
    if (!expected.m.equals(parsed.m)) error = 'privilege message does not re-pack to the token\'s bytes'
    else if (expected.crc_channel_name !== parsed.crc_channel_name || expected.crc_uid !== parsed.crc_uid) {
        error = 'crc_channel_name/crc_uid do not match channel_name/uid'
    }
    return error ? { ok: false, error, signature_valid, structure } : { ok: true, signature_valid, structure }
}

function handle(line) {
    let id = null
    try {
        const input = JSON.parse(line)
        id = input.id ?? null
        const token = input.token
        if (typeof token !== 'string') throw new Error('"token" must be a string')
        if (token.startsWith('007')) return { id, ...verify007(input) }
        if (token.startsWith('006')) return { id, ...verify006(input) }
        throw new Error(`unsupported token version "${token.slice(0, 3)}"`)
    } catch (err) {
        return { id, ok: false, error: String(err && err.message ? err.message : err), signature_valid: false }
    }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', line => {
    if (line.trim() === '') return
    process.stdout.write(JSON.stringify(handle(line)) + '\n')
})
