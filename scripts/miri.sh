#!/usr/bin/env bash
# Runs ws-proto's tests (unit, integration, fuzz-corpus replay and doc tests) under Miri, the
# interpreter that detects undefined behaviour (in ws-proto's dependencies: ws-proto itself is
# `forbid(unsafe_code)`). Not part of the default test run: it takes tens of minutes.
#
# Usage: scripts/miri.sh [CARGO_ARGS...]   they go to `cargo miri test -p ws-proto`, e.g.
#        scripts/miri.sh --lib                only the unit tests
#        scripts/miri.sh --test all           only the integration tests
#        scripts/miri.sh --features deflate   the miniz_oxide backend too
#
# Under Miri the proptest suites that take their case count from PROPTEST_CASES run 4 cases
# (isolation is off, so the environment reaches the interpreted tests), and the tests that would
# take hours interpreted (their native debug run takes 2 ms or more, or they set up several
# deflate compressors: hundreds of KiB zeroed and run byte by byte; large messages, decompression
# bombs, every-split loops, proptest suites with a fixed case count, the big fuzz corpora) are
# skipped with the SKIP list below (libtest `--skip` filters; MIRI_SKIP=0 runs everything). Needs
# a nightly toolchain with the miri and rust-src components (installed with rustup when missing).
# MIRIFLAGS is passed through, with -Zmiri-disable-isolation added. Results: fuzz/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^miri'; then
  rustup component add --toolchain nightly miri rust-src
fi

SKIP=(
  # unit tests (src/)
  deflate::tests::windows_are_honoured
  deflate::tests::round_trip
  deflate::tests::parts_round_trip
  deflate::tests::incompressible_messages_ending_near_a_block_boundary
  deflate::tests::bomb_is_valid_deflate_and_inflates_1032_to_1
  deflate::tests::output_is_bounded_by_the_room_given
  deflate::tests::empty_parts_and_messages
  deflate::tests::reference_inflater_measures_distances
  assembler::tests::inflated_limit_at_and_above
  assembler::tests::bomb_stops_at_the_limit_assembled
  assembler::tests::bomb_stops_at_the_limit_in_fragment_mode
  handshake::server::tests::every_split_gives_the_same_request
  handshake::client::tests::every_split_gives_the_same_outcome
  deflate::params::tests::server_response_is_accepted_by_the_client_that_offered
  # integration tests (tests/it/)
  it::deflate::round_trip_under_every_setting
  it::deflate::bomb_fails_with_1009_at_the_limit
  it::deflate::corrupt_compressed_input_never_panics
  it::deflate::inflated_text_is_validated_fail_fast
  it::deflate::offloaded_compression
  it::deflate::context_takeover_on_and_off_both_ways
  it::deflate::fragmented_compressed_messages_both_ways
  it::deflate::prepared_messages_with_deflate
  it::deflate::all_four_parameters_agreed
  it::deflate::fragment_mode_one_piece_per_compressed_frame
  it::framing::client_round_trips_text_binary_empty
  it::framing::server_round_trips_text_binary_empty
  it::handshake::props::
  it::deflate::compressed_and_uncompressed_interleaved_both_ways
  it::deflate::corrupt_data_fails_with_1007
  it::deflate::negotiation_through_the_handshakes
  it::deflate::threshold_at_below_above
  it::framing::client_round_trips_one_byte_reads_interleaved
  it::keepalive::client_ping_flood_is_bounded
  it::keepalive::server_ping_flood_is_bounded
  it::limits::client_max_message_size_across_fragments
  it::limits::server_max_message_size_across_fragments
  # fuzz corpus replay (tests/fuzz_corpus.rs): the large corpora
  extensions_corpus
  pair_corpus
  decoder_client_corpus
  decoder_server_corpus
  url_corpus
  subprotocols_corpus
  inflate_corpus
  utf8_corpus
  proxy_corpus
)
skip_args=()
if [ "${MIRI_SKIP:-1}" != 0 ]; then
  for s in "${SKIP[@]}"; do skip_args+=(--skip "$s"); done
fi

export PROPTEST_CASES="${PROPTEST_CASES:-4}"
# Isolation off: the corpus replay reads fuzz/corpus/, and proptest looks for its regression
# files (getcwd); it also hands PROPTEST_CASES to the interpreted tests.
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-isolation"

start=$SECONDS
rc=0
# `--` separates cargo's arguments from libtest's: put any of your own before it.
cargo +nightly miri test -p ws-proto --no-fail-fast "$@" -- "${skip_args[@]}" || rc=$?
printf 'miri: exit status %s after %dm%02ds\n' "$rc" "$(((SECONDS - start) / 60))" "$(((SECONDS - start) % 60))"
exit "$rc"
