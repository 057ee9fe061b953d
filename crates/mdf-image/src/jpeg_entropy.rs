//! A faster Huffman decoder for libjpeg's baseline scans, installed in place of libjpeg's own
//! `decode_mcu` for the common case: one sequential Huffman scan holding every component, no
//! restart markers, the whole file in memory.
//!
//! Why: libjpeg-turbo's Huffman decoding was 30 % of the image profiling stage. Its fast path
//! looks up 8 bits for the code, then fetches the coefficient's extra bits separately, and
//! refills its bit buffer byte by byte. Here one lookup of [`FAST_BITS`] bits gives the run, the
//! coefficient value and the total length for every code whose code and extra bits fit (most of
//! the coefficients of a photo), and the bit buffer takes eight bytes at a time when none of them
//! is `0xFF`.
//!
//! The coefficients are a function of the bit stream alone, so on a well-formed scan they are
//! exactly libjpeg's, and the IDCT, upsampling and colour conversion that follow are libjpeg's
//! own: the pixels stay Pillow's. Anything out of the ordinary (a code longer than 16 bits, a
//! coefficient index past 63, a scan that needs bits past its end, data that ends without a
//! marker) is not handled here: the decoder unwinds with [`Declined`] and the caller decodes the
//! image again with libjpeg's own decoder, which then behaves exactly as it does for Pillow
//! (resynchronising, padding with zeros, or refusing a truncated file).
//!
//! libjpeg's decompressor struct keeps the fields this needs private in `mozjpeg-sys`'s
//! binding, so [`DecompressTail`] mirrors the end of it; compile-time checks pin the mirror to
//! the binding's public fields and size.
#![allow(unsafe_code)]

use std::mem::{offset_of, size_of};
use std::os::raw::{c_int, c_uint, c_void};
use std::panic::resume_unwind;

use mozjpeg_sys::{
    boolean, jpeg_component_info, jpeg_decompress_struct, jpeg_marker_struct, JBLOCKROW,
    JDIMENSION, JHUFF_TBL, JQUANT_TBL, JSAMPLE,
};

/// Bits looked up at once.
const FAST_BITS: u32 = 10;

/// The run of an end-of-block entry in [`Table::coefficient`]: past any coefficient index, so
/// the check for a run past the block's end catches it, and beyond any index a run can reach
/// (63 + 15 + 1), so an end of block is told from a run past the end.
const END_OF_BLOCK: u32 = 96;

/// Bit 7 of an entry's second run byte: the entry holds a second coefficient.
const HAS_SECOND: u64 = 0x80;

/// The unwinding payload that asks the caller to decode the image with libjpeg's decoder.
pub(crate) struct Declined;

/// The fields of `jpeg_decompress_struct` from `dc_huff_tbl_ptrs` to the end, as in
/// `jpeglib.h` of the vendored libjpeg-turbo (no `jpeg70_abi`/`jpeg80_abi`, as we build it).
#[repr(C)]
#[allow(non_snake_case, dead_code)]
struct DecompressTail {
    dc_huff_tbl_ptrs: [*mut JHUFF_TBL; 4],
    ac_huff_tbl_ptrs: [*mut JHUFF_TBL; 4],
    data_precision: c_int,
    comp_info: *mut jpeg_component_info,
    progressive_mode: boolean,
    arith_code: boolean,
    arith_dc_L: [u8; 16],
    arith_dc_U: [u8; 16],
    arith_ac_K: [u8; 16],
    restart_interval: c_uint,
    saw_JFIF_marker: boolean,
    JFIF_major_version: u8,
    JFIF_minor_version: u8,
    density_unit: u8,
    X_density: u16,
    Y_density: u16,
    saw_Adobe_marker: boolean,
    Adobe_transform: u8,
    CCIR601_sampling: boolean,
    marker_list: *mut jpeg_marker_struct,
    max_h_samp_factor: c_int,
    max_v_samp_factor: c_int,
    min_DCT_scaled_size: c_int,
    total_iMCU_rows: JDIMENSION,
    sample_range_limit: *mut JSAMPLE,
    comps_in_scan: c_int,
    cur_comp_info: [*mut jpeg_component_info; 4],
    MCUs_per_row: JDIMENSION,
    MCU_rows_in_scan: JDIMENSION,
    blocks_in_MCU: c_int,
    MCU_membership: [c_int; 10],
    Ss: c_int,
    Se: c_int,
    Ah: c_int,
    Al: c_int,
    unread_marker: c_int,
    master: *mut c_void,
    main: *mut c_void,
    coef: *mut c_void,
    post: *mut c_void,
    inputctl: *mut c_void,
    marker: *mut c_void,
    entropy: *mut EntropyDecoder,
    idct: *mut c_void,
    upsample: *mut c_void,
    cconvert: *mut c_void,
    cquantize: *mut c_void,
}

/// Where [`DecompressTail`] starts: right after `quant_tbl_ptrs` (both pointer-aligned).
const TAIL_START: usize =
    offset_of!(jpeg_decompress_struct, quant_tbl_ptrs) + 4 * size_of::<*mut JQUANT_TBL>();

// The mirror matches the binding wherever the binding's fields are public, and in size.
const _: () = {
    type D = jpeg_decompress_struct;
    type T = DecompressTail;
    assert!(offset_of!(D, comp_info) == TAIL_START + offset_of!(T, comp_info));
    assert!(offset_of!(D, density_unit) == TAIL_START + offset_of!(T, density_unit));
    assert!(offset_of!(D, X_density) == TAIL_START + offset_of!(T, X_density));
    assert!(offset_of!(D, Y_density) == TAIL_START + offset_of!(T, Y_density));
    assert!(offset_of!(D, marker_list) == TAIL_START + offset_of!(T, marker_list));
    assert!(offset_of!(D, max_h_samp_factor) == TAIL_START + offset_of!(T, max_h_samp_factor));
    assert!(offset_of!(D, max_v_samp_factor) == TAIL_START + offset_of!(T, max_v_samp_factor));
    assert!(size_of::<D>() == TAIL_START + size_of::<T>());
};

/// `struct jpeg_entropy_decoder` of `jpegint.h`.
#[repr(C)]
struct EntropyDecoder {
    start_pass: Option<unsafe extern "C-unwind" fn(*mut jpeg_decompress_struct)>,
    decode_mcu:
        Option<unsafe extern "C-unwind" fn(*mut jpeg_decompress_struct, *mut JBLOCKROW) -> boolean>,
    insufficient_data: boolean,
}

/// Zig-zag index → natural (row-major) index of a coefficient.
const NATURAL_ORDER: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// [`NATURAL_ORDER`] over every index the two-coefficient step can reach (up to
/// 63 + [`END_OF_BLOCK`] + 16): past the block, index 63. A coefficient that lands there is
/// the end-of-block's zero, or one past the end (the block is declined), or the second of a
/// pair whose first filled index 63, which the first then overwrites.
const NATURAL_ORDER_PADDED: [u8; 256] = {
    let mut padded = [63u8; 256];
    let mut k = 0;
    while k < 64 {
        padded[k] = NATURAL_ORDER[k];
        k += 1;
    }
    padded
};

/// `HUFF_EXTEND`: the signed value of `s` extra bits `v`.
#[inline(always)]
fn extend(v: u32, s: u32) -> i32 {
    let v = v as i32;
    if v < 1 << (s - 1) {
        v - (1 << s) + 1
    } else {
        v
    }
}

/// One Huffman table, decoded canonically (JPEG Annex C) as libjpeg's `jpeg_make_d_derived_tbl`.
struct Table {
    /// Per [`FAST_BITS`]-bit prefix: `len << 8 | symbol` of the code it starts with, 0 when the
    /// code is longer.
    symbol: Box<[u16; 1 << FAST_BITS]>,
    /// AC tables: per prefix, the coefficient its code and extra bits give when both fit in
    /// the prefix, and the next one too when it fits in the bits left (0: the first does not
    /// fit). Little-endian bytes: bits both take, bits the first takes, the first's run, the
    /// second's run (bit 7, [`HAS_SECOND`]: there is a second); then the first's and the
    /// second's value as `i16`. The end of block is run [`END_OF_BLOCK`], 16 zeros run 15 and
    /// value 0 (writing that zero is harmless: the block is zeroed); nothing follows an end
    /// of block.
    coefficient: Box<[u64; 1 << FAST_BITS]>,
    /// Largest code of each length (−1: none), as libjpeg's `maxcode`.
    maxcode: [i32; 18],
    /// Symbol index minus first code, per length.
    valoffset: [i32; 17],
    huffval: [u8; 256],
}

impl Table {
    fn new(t: &JHUFF_TBL, ac: bool) -> Option<Table> {
        let mut table = Table {
            symbol: Box::new([0; 1 << FAST_BITS]),
            coefficient: Box::new([0; 1 << FAST_BITS]),
            maxcode: [-1; 18],
            valoffset: [0; 17],
            huffval: t.huffval,
        };
        let (mut code, mut p) = (0i32, 0usize);
        for len in 1..=16u32 {
            let n = usize::from(t.bits[len as usize]);
            // A code space overrun (or an all-ones code) is a bad table; libjpeg refuses it
            // before we get here.
            if code + n as i32 >= 1 << len {
                return None;
            }
            if n > 0 {
                table.valoffset[len as usize] = p as i32 - code;
                for _ in 0..n {
                    let symbol = *t.huffval.get(p)?;
                    // A DC symbol is a size of at most 15 bits (libjpeg refuses others too).
                    if !ac && symbol > 15 {
                        return None;
                    }
                    if len <= FAST_BITS {
                        table.fill(code as u32, len, symbol);
                    }
                    code += 1;
                    p += 1;
                }
                table.maxcode[len as usize] = code - 1;
            }
            code <<= 1;
        }
        table.maxcode[17] = i32::MAX;
        if ac {
            table.fill_coefficients();
        }
        Some(table)
    }

    fn fill(&mut self, code: u32, len: u32, symbol: u8) {
        let spare = FAST_BITS - len;
        for low in 0..1u32 << spare {
            self.symbol[(code << spare | low) as usize] = (len as u16) << 8 | u16::from(symbol);
        }
    }

    /// The AC coefficient that `window` (a [`FAST_BITS`]-bit prefix, of which the top `avail`
    /// bits are the data's) starts with, when its code and extra bits fit in those bits:
    /// (bits taken, run, value).
    fn coefficient_in(&self, window: u32, avail: u32) -> Option<(u32, u32, i32)> {
        let entry = self.symbol[window as usize];
        let (len, symbol) = (u32::from(entry >> 8), entry as u8);
        let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
        if entry == 0 || len + size > avail {
            return None;
        }
        Some(match (size, run) {
            (0, 15) => (len, 15, 0),
            // Any other size-0 symbol ends the block, as in libjpeg.
            (0, _) => (len, END_OF_BLOCK, 0),
            _ => {
                let extra = (window >> (FAST_BITS - len - size)) & ((1 << size) - 1);
                (len + size, run, extend(extra, size))
            }
        })
    }

    /// Fills [`Table::coefficient`] once [`Table::symbol`] is complete.
    fn fill_coefficients(&mut self) {
        let mask = (1u32 << FAST_BITS) - 1;
        for prefix in 0..1u32 << FAST_BITS {
            let Some((used, run, value)) = self.coefficient_in(prefix, FAST_BITS) else {
                continue;
            };
            let mut entry = u64::from(used) | u64::from(used) << 8 | u64::from(run) << 16;
            entry |= u64::from(value as u16) << 32;
            if run != END_OF_BLOCK {
                if let Some((used2, run2, value2)) =
                    self.coefficient_in(prefix << used & mask, FAST_BITS - used)
                {
                    entry += u64::from(used2);
                    entry |= (u64::from(run2) | HAS_SECOND) << 24 | u64::from(value2 as u16) << 48;
                }
            }
            self.coefficient[prefix as usize] = entry;
        }
    }
}

/// The bit reader's hot state: plain scalars that the decoding loop keeps in registers (the
/// cold paths take them as arguments and return new values, so no address escapes).
#[derive(Clone, Copy)]
struct Reader {
    /// Unread bits, most significant first, `nbits` of them valid.
    bits: u64,
    nbits: u32,
    /// Next byte to read into `bits`.
    pos: usize,
}

/// The bit reader's cold state: where the data ends.
#[derive(Clone, Copy)]
struct DataEnd {
    /// The marker's first `0xFF` once found (the entropy-coded data ends there); `usize::MAX`
    /// before.
    marker_at: usize,
    /// Zero bits appended after the marker (libjpeg's padding); consuming any is declined.
    padding: u32,
}

/// Bits a refill guarantees at least; one coefficient takes at most 16 + 15.
const REFILL_BELOW: u32 = 32;

/// Lookups between two top-ups of the AC loop: a lookup takes at most [`FAST_BITS`] bits and a
/// top-up leaves at least 56, but a longer code first in the group only guarantees
/// [`REFILL_BELOW`] bits after it, for the group's other lookups: at most 4 (the assert
/// below). 3 measured fastest (2 to 4 tried).
const LOOKUPS_PER_TOP_UP: usize = 3;

const _: () = assert!((LOOKUPS_PER_TOP_UP as u32 - 1) * FAST_BITS <= REFILL_BELOW);

impl Reader {
    /// Tops `bits` up to at least 56 valid bits when fewer than [`REFILL_BELOW`] are left.
    #[inline(always)]
    fn refill(&mut self, data: &[u8], end: &mut DataEnd) {
        if self.nbits < REFILL_BELOW {
            self.top_up(data, end);
        }
    }

    /// Tops `bits` up to at least 56 valid bits (at most 63), whatever is left.
    #[inline(always)]
    fn top_up(&mut self, data: &[u8], end: &mut DataEnd) {
        if end.marker_at == usize::MAX {
            if let Some(chunk) = data.get(self.pos..self.pos + 8) {
                let word = u64::from_be_bytes(chunk.try_into().unwrap_or([0xFF; 8]));
                // No 0xFF byte (no stuffing, no marker): take as many whole bytes as fit. The
                // bits below the whole bytes are the next bytes' own, which the next refill
                // writes again at the same place.
                let inverted = !word;
                let has_ff = inverted.wrapping_sub(0x0101_0101_0101_0101)
                    & !inverted
                    & 0x8080_8080_8080_8080;
                if has_ff == 0 {
                    self.bits |= word >> self.nbits;
                    self.pos += ((63 - self.nbits) / 8) as usize;
                    self.nbits |= 56;
                    return;
                }
            }
        }
        *self = refill_bytewise(self.bits, self.nbits, self.pos, data, end);
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.bits <<= n;
        self.nbits -= n;
    }

    /// The next `n` (1–16) bits as a number.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let v = (self.bits >> (64 - n)) as u32;
        self.consume(n);
        v
    }

    /// The next Huffman symbol of `table` (at least 16 bits are buffered).
    #[inline(always)]
    fn symbol(&mut self, table: &Table) -> u8 {
        let entry = table.symbol[(self.bits >> (64 - FAST_BITS)) as usize];
        let (len, symbol) = if entry != 0 {
            (u32::from(entry >> 8), entry as u8)
        } else {
            long_symbol(self.bits, table)
        };
        self.consume(len);
        symbol
    }

    /// Decodes one block into `block` (zeroed by libjpeg).
    #[inline(always)]
    fn block(
        &mut self,
        data: &[u8],
        end: &mut DataEnd,
        (dc, ac): (&Table, &Table),
        predictor: &mut i32,
        block: &mut [i16; 64],
    ) {
        self.refill(data, end);
        let size = u32::from(self.symbol(dc));
        if size > 0 {
            // At most 15: `Table::new` refuses DC tables with larger sizes.
            let v = self.take(size);
            *predictor = predictor.wrapping_add(extend(v, size));
        }
        block[0] = *predictor as i16;
        let mut k = 1usize;
        // Top-ups at a fixed pace rather than when the bits run low: a branch on the bits
        // left is taken at no pattern the CPU can predict.
        'block: loop {
            self.top_up(data, end);
            for _ in 0..LOOKUPS_PER_TOP_UP {
                let entry = ac.coefficient[(self.bits >> (64 - FAST_BITS)) as usize];
                if entry != 0 {
                    // One or two coefficients, without a branch on which: an absent second
                    // is a zero written at the next index, and the checks wait for the
                    // block's end.
                    let (bits, nbits) = (self.bits, self.nbits);
                    let k1 = k + (entry >> 16 & 0xFF) as usize;
                    let second = (entry >> 24 & 0xFF) as usize;
                    let k2 = k1 + 1 + (second & 0x7F);
                    // The second first: where both land on index 63, the first must stay.
                    block[usize::from(NATURAL_ORDER_PADDED[k2 & 0xFF]) & 63] = (entry >> 48) as i16;
                    block[usize::from(NATURAL_ORDER_PADDED[k1 & 0xFF]) & 63] = (entry >> 32) as i16;
                    self.consume((entry & 0xFF) as u32);
                    k = k2 + (second >> 7);
                    if k > 63 {
                        if k1 >= END_OF_BLOCK as usize {
                            // An end of block (with nothing after it in the entry).
                        } else if k1 > 63 {
                            decline()
                        } else if k1 == 63 {
                            // The block is full: the second coefficient's bits are the next
                            // block's, give them back.
                            if second & 0x80 != 0 {
                                let first = (entry >> 8 & 0xFF) as u32;
                                (self.bits, self.nbits) = (bits << first, nbits - first);
                                #[cfg(test)]
                                GIVEN_BACK.with(|n| n.set(n.get() + 1));
                            }
                        } else if (64..END_OF_BLOCK as usize).contains(&k2) {
                            decline()
                        }
                        break 'block;
                    }
                    continue;
                }
                // A code or value longer than the lookup: up to 31 bits, and enough left
                // after it for the rest of the lookups.
                self.refill(data, end);
                let symbol = self.symbol(ac);
                let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
                if size > 0 {
                    k += run;
                    if k > 63 {
                        decline()
                    }
                    let v = self.take(size);
                    block[usize::from(NATURAL_ORDER[k])] = extend(v, size) as i16;
                } else if run == 15 {
                    k += 15;
                } else {
                    break 'block;
                }
                k += 1;
                if k > 63 {
                    break 'block;
                }
                self.refill(data, end);
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Pairs whose second coefficient was given back (the first filled the block), on this
    /// thread: tests check that they ran.
    pub(crate) static GIVEN_BACK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Hands the image back to libjpeg's own decoder.
#[cold]
#[inline(never)]
fn decline() -> ! {
    resume_unwind(Box::new(Declined))
}

/// The slow refill: byte by byte, undoing byte stuffing (`FF 00`, after any `FF` fill bytes)
/// as libjpeg's `jpeg_fill_bit_buffer` does; at a marker the data ends and zero bits follow.
#[cold]
#[inline(never)]
fn refill_bytewise(
    mut bits: u64,
    mut nbits: u32,
    mut pos: usize,
    data: &[u8],
    end: &mut DataEnd,
) -> Reader {
    while nbits < 56 {
        let mut byte = 0;
        if end.marker_at == usize::MAX {
            // The data ends without a marker: libjpeg warns (and we refuse) only if it needs
            // the bits; let it decide.
            let Some(&b) = data.get(pos) else { decline() };
            if b != 0xFF {
                byte = b;
                pos += 1;
            } else {
                let mut next = pos + 1;
                while data.get(next) == Some(&0xFF) {
                    next += 1;
                }
                match data.get(next) {
                    Some(0) => {
                        byte = 0xFF;
                        pos = next + 1;
                    }
                    Some(_) => end.marker_at = pos,
                    None => decline(),
                }
            }
        }
        if end.marker_at != usize::MAX {
            end.padding += 8;
        }
        bits |= u64::from(byte) << (56 - nbits);
        nbits += 8;
    }
    Reader { bits, nbits, pos }
}

/// A code longer than [`FAST_BITS`] (libjpeg's `jpeg_huff_decode`): (length, symbol).
#[cold]
#[inline(never)]
fn long_symbol(bits: u64, table: &Table) -> (u32, u8) {
    let mut len = FAST_BITS + 1;
    let mut code = (bits >> (64 - len)) as i32;
    while code > table.maxcode[len as usize] {
        len += 1;
        if len > 16 {
            decline()
        }
        code = (bits >> (64 - len)) as i32;
    }
    let index = (code + table.valoffset[len as usize]) as usize & 0xFF;
    (len, table.huffval[index])
}

/// The decoder's state for one scan, reached through `cinfo.common.client_data`.
pub(crate) struct FastEntropy {
    data: *const u8,
    len: usize,
    reader: Reader,
    end: DataEnd,
    predictors: [i32; 4],
    /// Per block of an MCU: DC table, AC table, component of the scan.
    blocks: Vec<(usize, usize, usize)>,
    dc: Vec<Table>,
    ac: Vec<Table>,
}

impl FastEntropy {
    /// The state for the scan `cinfo` is about to decode, or `None` when the scan is not one
    /// this decoder handles (libjpeg's own decoder then runs).
    ///
    /// # Safety
    /// `cinfo` is a live decompressor after `jpeg_start_decompress`, reading from `data`.
    pub(crate) unsafe fn for_scan(
        cinfo: &mut jpeg_decompress_struct,
        data: &[u8],
    ) -> Option<FastEntropy> {
        let tail = &*tail(cinfo);
        let single_full_scan = tail.comps_in_scan == cinfo.num_components
            && (1..=4).contains(&tail.comps_in_scan)
            && (1..=10).contains(&tail.blocks_in_MCU);
        let baseline_huffman = tail.data_precision == 8
            && tail.progressive_mode == 0
            && tail.arith_code == 0
            && tail.restart_interval == 0
            && tail.Ss == 0
            && tail.Se == 63
            && tail.Ah == 0
            && tail.Al == 0;
        if !single_full_scan || !baseline_huffman || tail.entropy.is_null() || cinfo.src.is_null() {
            return None;
        }
        // Where libjpeg's reader stands: at the first byte of the entropy-coded data.
        let src = &*cinfo.src;
        let pos = (src.next_input_byte as usize).checked_sub(data.as_ptr() as usize)?;
        if pos + src.bytes_in_buffer != data.len() {
            return None;
        }
        let mut dc_index = [usize::MAX; 4];
        let mut ac_index = [usize::MAX; 4];
        let (mut dc, mut ac) = (Vec::new(), Vec::new());
        let mut blocks = Vec::with_capacity(tail.blocks_in_MCU as usize);
        let in_scan = &tail.cur_comp_info[..tail.comps_in_scan as usize];
        for &ci in &tail.MCU_membership[..tail.blocks_in_MCU as usize] {
            let comp = &**in_scan.get(usize::try_from(ci).ok()?)?;
            let d = usize::try_from(comp.dc_tbl_no).ok().filter(|&d| d < 4)?;
            let a = usize::try_from(comp.ac_tbl_no).ok().filter(|&a| a < 4)?;
            if dc_index[d] == usize::MAX {
                dc_index[d] = dc.len();
                dc.push(Table::new(tail.dc_huff_tbl_ptrs[d].as_ref()?, false)?);
            }
            if ac_index[a] == usize::MAX {
                ac_index[a] = ac.len();
                ac.push(Table::new(tail.ac_huff_tbl_ptrs[a].as_ref()?, true)?);
            }
            blocks.push((dc_index[d], ac_index[a], ci as usize));
        }
        Some(FastEntropy {
            data: data.as_ptr(),
            len: data.len(),
            reader: Reader {
                bits: 0,
                nbits: 0,
                pos,
            },
            end: DataEnd {
                marker_at: usize::MAX,
                padding: 0,
            },
            predictors: [0; 4],
            blocks,
            dc,
            ac,
        })
    }

    /// Makes libjpeg call this decoder for the MCUs of the scan.
    ///
    /// # Safety
    /// `self` must stay at this address and outlive the decompression of the scan.
    pub(crate) unsafe fn install(&mut self, cinfo: &mut jpeg_decompress_struct) {
        cinfo.common.client_data = (self as *mut FastEntropy).cast();
        (*(*tail(cinfo)).entropy).decode_mcu = Some(decode_mcu);
    }
}

/// The decompressor's private tail.
unsafe fn tail(cinfo: *mut jpeg_decompress_struct) -> *mut DecompressTail {
    cinfo.cast::<u8>().add(TAIL_START).cast()
}

/// libjpeg's `decode_mcu` method: decodes one MCU into `mcu` (`blocks_in_MCU` zeroed blocks).
unsafe extern "C-unwind" fn decode_mcu(
    cinfo: *mut jpeg_decompress_struct,
    mcu: *mut JBLOCKROW,
) -> boolean {
    let state = &mut *(*cinfo).common.client_data.cast::<FastEntropy>();
    // SAFETY: `data`/`len` are the slice being decoded, which outlives the scan.
    let data = std::slice::from_raw_parts(state.data, state.len);
    let (mut reader, mut end) = (state.reader, state.end);
    for (blkn, &(d, a, ci)) in state.blocks.iter().enumerate() {
        let mut scratch = [0i16; 64];
        let block = if mcu.is_null() {
            &mut scratch
        } else {
            &mut *(*mcu.add(blkn))
        };
        let tables = (&state.dc[d], &state.ac[a]);
        reader.block(data, &mut end, tables, &mut state.predictors[ci], block);
    }
    (state.reader, state.end) = (reader, end);
    if end.padding > reader.nbits {
        // The scan needed bits past its end: libjpeg decides what that means.
        decline()
    }
    // Where libjpeg's reader continues once the scan is done: the marker, or the next byte
    // not yet read.
    let at = if end.marker_at == usize::MAX {
        reader.pos
    } else {
        end.marker_at
    };
    let src = &mut *(*cinfo).src;
    src.next_input_byte = state.data.add(at);
    src.bytes_in_buffer = state.len - at;
    1
}

#[cfg(test)]
mod tests {
    use image::codecs::jpeg::JpegEncoder;
    use image::GrayImage;

    use crate::decode::DEFAULT_MAX_PIXELS;
    use crate::libjpeg::{attempt, decode, FAST_SCANS};
    use crate::testimg::{self, Rng};

    /// (scans the fast decoder finished, scans it declined) so far on this thread.
    fn scans() -> (u32, u32) {
        FAST_SCANS.with(std::cell::Cell::get)
    }

    /// `decode` (fast decoder first) gives what libjpeg's own decoder gives: the same pixels or
    /// the same error.
    fn assert_same_as_libjpeg(jpeg: &[u8], what: &str) {
        let ours = decode(jpeg, DEFAULT_MAX_PIXELS);
        let Ok(stock) = attempt(jpeg, DEFAULT_MAX_PIXELS, false) else {
            panic!("{what}: libjpeg's own decoder declined")
        };
        match (ours, stock) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    (a.width, a.height, a.channels),
                    (b.width, b.height, b.channels)
                );
                assert!(a.data == b.data, "{what}: pixels differ");
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{what}"),
            (a, b) => panic!("{what}: {:?} vs {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }

    fn grey_jpeg(w: u32, h: u32, seed: u64, quality: u8) -> Vec<u8> {
        let rgb = testimg::photo(w, h, seed);
        let grey = GrayImage::from_fn(w, h, |x, y| image::Luma([rgb.get_pixel(x, y)[1]]));
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&grey)
            .unwrap();
        out
    }

    /// How [`libjpeg_jpeg`] encodes.
    #[derive(Clone, Copy)]
    enum Coding {
        /// Huffman tables optimised for the image (as `optimize=True` in Pillow, and as most
        /// photo tools write them): the all-zero code can mean anything.
        Optimised,
        /// Restart markers every `n` MCU rows.
        Restarts(i32),
        /// mozjpeg's default: progressive, optimised.
        Progressive,
    }

    /// A JPEG from the vendored libjpeg's encoder.
    fn libjpeg_jpeg(img: &image::RgbImage, quality: i32, coding: Coding) -> Vec<u8> {
        use mozjpeg_sys::*;
        use std::os::raw::c_ulong;
        extern "C" {
            fn free(p: *mut c_void);
        }
        // SAFETY: the usual libjpeg compression sequence on zero-initialised structs; every
        // row pointer points at a whole row of `img`; the output buffer is malloc'd by
        // jpeg_mem_dest and freed after it is copied.
        unsafe {
            let mut err: jpeg_error_mgr = std::mem::zeroed();
            let mut c: jpeg_compress_struct = std::mem::zeroed();
            c.common.err = jpeg_std_error(&mut err);
            jpeg_create_compress(&mut c);
            let (mut buf, mut size): (*mut u8, c_ulong) = (std::ptr::null_mut(), 0);
            jpeg_mem_dest(&mut c, &mut buf, &mut size);
            c.image_width = img.width();
            c.image_height = img.height();
            c.input_components = 3;
            c.in_color_space = J_COLOR_SPACE::JCS_RGB;
            if !matches!(coding, Coding::Progressive) {
                // libjpeg-turbo's defaults: baseline.
                jpeg_c_set_int_param(
                    &mut c,
                    J_INT_PARAM::JINT_COMPRESS_PROFILE,
                    JCP_FASTEST as c_int,
                );
            }
            jpeg_set_defaults(&mut c);
            jpeg_set_quality(&mut c, quality, 1);
            match coding {
                Coding::Optimised => c.optimize_coding = 1,
                Coding::Restarts(rows) => c.restart_in_rows = rows,
                Coding::Progressive => {}
            }
            jpeg_start_compress(&mut c, 1);
            for row in img.as_raw().chunks_exact(3 * img.width() as usize) {
                let rows = [row.as_ptr()];
                jpeg_write_scanlines(&mut c, rows.as_ptr(), 1);
            }
            jpeg_finish_compress(&mut c);
            let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
            jpeg_destroy_compress(&mut c);
            free(buf.cast());
            out
        }
    }

    fn testdata(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/pillow/");
        std::fs::read(format!("{path}{name}")).unwrap()
    }

    #[test]
    fn clean_scans_take_the_fast_path_and_give_libjpegs_pixels() {
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        for (w, h) in [(1, 1), (7, 13), (37, 29), (64, 48), (333, 211)] {
            let photo = testimg::photo(w, h, u64::from(w));
            // Noise makes large coefficients: codes longer than the lookup, values that do
            // not fit it.
            let noisy = testimg::add_noise(&photo, 60.0, 3);
            for quality in [1, 10, 50, 75, 90, 100] {
                cases.push((
                    format!("{w}x{h} q{quality}"),
                    testimg::jpeg(&photo, quality),
                ));
                cases.push((
                    format!("{w}x{h} noisy q{quality}"),
                    testimg::jpeg(&noisy, quality),
                ));
                cases.push((
                    format!("{w}x{h} grey q{quality}"),
                    grey_jpeg(w, h, 9, quality),
                ));
            }
        }
        for quality in [20, 75, 95] {
            let photo = testimg::add_noise(&testimg::photo(123, 77, 4), 8.0, 2);
            cases.push((
                format!("optimised tables q{quality}"),
                libjpeg_jpeg(&photo, quality, Coding::Optimised),
            ));
        }
        // Pillow's samples: 4:2:0, 4:2:2, grey and Adobe CMYK (four components).
        for name in ["ycc420", "ycc422", "grey", "cmyk"] {
            cases.push((name.into(), testdata(&format!("{name}.jpg"))));
        }
        let given_back = super::GIVEN_BACK.with(std::cell::Cell::get);
        for (what, jpeg) in &cases {
            let before = scans();
            assert_same_as_libjpeg(jpeg, what);
            assert_eq!(
                scans(),
                (before.0 + 1, before.1),
                "{what}: the fast path ran"
            );
        }
        // Blocks whose last coefficient came with the next block's first bits (noisy q100).
        assert!(super::GIVEN_BACK.with(std::cell::Cell::get) > given_back);
    }

    #[test]
    fn tables_libjpeg_refuses_are_refused() {
        // More one-bit codes than one bit allows; an all-ones code.
        for bits_1 in [3, 2] {
            let mut bad = mozjpeg_sys::JHUFF_TBL::default();
            bad.bits[1] = bits_1;
            assert!(
                super::Table::new(&bad, true).is_none(),
                "{bits_1} one-bit codes"
            );
        }
        // A DC size over 15 bits.
        let mut dc = mozjpeg_sys::JHUFF_TBL::default();
        dc.bits[1] = 1;
        dc.huffval[0] = 16;
        assert!(super::Table::new(&dc, false).is_none());
        assert!(super::Table::new(&dc, true).is_some(), "a valid AC symbol");
        let mut good = mozjpeg_sys::JHUFF_TBL::default();
        good.bits[2] = 2;
        good.huffval[..2].copy_from_slice(&[0x01, 0x00]);
        let table = super::Table::new(&good, true).unwrap();
        // '00' is symbol 0x01 (run 0, size 1), '01' the end of block (0x00).
        assert_eq!(table.symbol[0], 2 << 8 | 0x01);
        assert_eq!(table.symbol[1 << (super::FAST_BITS - 2)], 2 << 8);
        // (bits both take, bits the first takes, first run, second run, values)
        let fields = |prefix: usize| {
            let e = table.coefficient[prefix];
            let bytes = (e & 0xFF, e >> 8 & 0xFF, e >> 16 & 0xFF, e >> 24 & 0xFF);
            (bytes, (e >> 32) as i16, (e >> 48) as i16)
        };
        let pair = super::HAS_SECOND;
        let eob = u64::from(super::END_OF_BLOCK);
        // 000 000 ...: −1 twice.
        assert_eq!(fields(0), ((6, 3, 0, pair), -1, -1));
        // 001 01 ...: +1 then the end of block.
        assert_eq!(fields(0b0010100000), ((5, 3, 0, pair | eob), 1, 0));
        // 01 ...: the end of block alone.
        assert_eq!(fields(0b0100000000), ((2, 2, eob, 0), 0, 0));
        // 001 1 ...: +1, then a code that does not start in the bits left.
        assert_eq!(fields(0b0011111111), ((3, 3, 0, 0), 1, 0));
    }

    #[test]
    fn scans_it_does_not_handle_are_left_to_libjpeg() {
        let photo = testimg::photo(120, 90, 6);
        let restart_markers = libjpeg_jpeg(&photo, 80, Coding::Restarts(2));
        let progressive_optimised = libjpeg_jpeg(&photo, 80, Coding::Progressive);
        let progressive = testdata("ycc444_progressive.jpg");
        // A restart interval (DRI segment right after SOI; the data has no RST markers, which
        // libjpeg resynchronises over as it always does).
        let plain = testimg::jpeg(&testimg::photo(64, 48, 1), 80);
        let mut restarts = plain[..2].to_vec();
        restarts.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04, 0x00, 0x02]);
        restarts.extend_from_slice(&plain[2..]);
        for (what, jpeg) in [
            ("progressive", &progressive),
            ("progressive, optimised", &progressive_optimised),
            ("restart markers", &restart_markers),
            ("restart interval without markers", &restarts),
        ] {
            let before = scans();
            assert_same_as_libjpeg(jpeg, what);
            assert_eq!(scans(), before, "{what}: libjpeg's decoder ran alone");
        }
    }

    #[test]
    fn damaged_scans_decode_as_libjpeg_decodes_them() {
        let photo = testimg::add_noise(&testimg::photo(96, 64, 5), 20.0, 1);
        let before = scans();
        damage(&testimg::jpeg(&photo, 85));
        damage(&libjpeg_jpeg(&photo, 85, Coding::Optimised));
        let (finished, declined) = (scans().0 - before.0, scans().1 - before.1);
        assert!(
            finished > 100 && declined > 100,
            "{finished} finished, {declined} declined"
        );
    }

    /// Truncations, shortened data and garbled bytes of `jpeg` decode as libjpeg decodes them.
    fn damage(jpeg: &[u8]) {
        for cut in (0..jpeg.len())
            .step_by(29)
            .chain([jpeg.len() - 2, jpeg.len() - 1])
        {
            assert_same_as_libjpeg(&jpeg[..cut], &format!("cut at {cut}"));
        }
        // The entropy-coded data shortened (EOI kept): the last MCUs need bits past the
        // marker.
        for short in 1..24 {
            let mut shortened = jpeg[..jpeg.len() - 2 - short].to_vec();
            shortened.extend_from_slice(&[0xFF, 0xD9]);
            assert_same_as_libjpeg(&shortened, &format!("{short} bytes short"));
        }
        // Without EOI, with bytes after it.
        let mut trailing = jpeg.to_vec();
        trailing.extend_from_slice(b"\xFF\xFF\x00garbage");
        assert_same_as_libjpeg(&trailing, "bytes after EOI");
        // Garbled bytes in the entropy-coded data: bad codes, stray markers, runs past the
        // end of a block, stuffing removed.
        let scan_start = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap() + 14;
        let mut rng = Rng::new(11);
        for round in 0..400 {
            let mut garbled = jpeg.to_vec();
            for _ in 0..1 + rng.next() % 3 {
                let at = scan_start + (rng.next() as usize) % (jpeg.len() - 2 - scan_start);
                garbled[at] = match round % 4 {
                    0 => 0xFF,
                    1 => garbled[at] ^ (1 << (rng.next() % 8)),
                    _ => rng.next() as u8,
                };
            }
            assert_same_as_libjpeg(&garbled, &format!("garbled, round {round}"));
        }
    }
}
