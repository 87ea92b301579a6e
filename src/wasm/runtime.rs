//! The release wasm's own runtime (the `std` feature off): an allocator and a
//! panic handler, so that neither `std` nor its panic machinery — and with it
//! `core::fmt` — ends up in the module (docs/size.md). The handler formats
//! nothing: it reports the panic's text when it is a plain string, and where it
//! happened, then traps.

/// talc's WebAssembly allocator: size-binned free lists (O(1) allocate and
/// free, neighbours merged), growing the memory as needed; smaller and no
/// slower than dlmalloc here (docs/size.md, "The allocator").
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    super::panic::report(info.message().as_str(), info.location());
    core::arch::wasm32::unreachable()
}
