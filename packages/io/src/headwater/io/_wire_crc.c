/* TensorFlow's masked CRC32C (Castagnoli) for TFRecord framing: the CPU's CRC32 instruction
 * (SSE 4.2 computes exactly CRC32C) when present, else slicing by 8 tables. */
#include "_wire.h"

static uint32_t crc_table[8][256];
static int use_crc_instruction = 0;

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define HAVE_CRC_INSTRUCTION 1

__attribute__((target("sse4.2"))) static uint32_t crc32c_instruction(const uint8_t *p, size_t n) {
    uint64_t c = 0xFFFFFFFFu;
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c ^ 0xFFFFFFFFu;
}
#endif

void hw_crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
#ifdef HAVE_CRC_INSTRUCTION
    __builtin_cpu_init();
    use_crc_instruction = __builtin_cpu_supports("sse4.2") && getenv("HEADWATER_PORTABLE_C") == NULL;
#endif
}

int hw_crc_instruction(void) { return use_crc_instruction; }

static uint32_t crc32c(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
            crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
            crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
            crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][(w >> 56) & 0xFF];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return c ^ 0xFFFFFFFFu;
}

uint32_t hw_masked_crc(const uint8_t *p, size_t n) {
#ifdef HAVE_CRC_INSTRUCTION
    uint32_t c = use_crc_instruction ? crc32c_instruction(p, n) : crc32c(p, n);
#else
    uint32_t c = crc32c(p, n);
#endif
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}
