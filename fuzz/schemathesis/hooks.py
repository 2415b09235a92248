"""Schemathesis strategies for orderdesk's custom GraphQL scalars (api/src/graphql/scalars.rs).

Without them schemathesis cannot generate arguments of type Decimal and skips every operation
that takes one (createOrder, createProduct, createCustomer and their updates). Loaded through
`SCHEMATHESIS_HOOKS` by run.sh.
"""

from datetime import timezone

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

# Mostly sensible amounts, plus the edges: signs, exponents, too many places, past the storage
# range (amounts are stored as i64 of 10^-4 units), past Decimal's range, and junk.
DECIMAL_TEXT = st.one_of(
    st.decimals(
        min_value=-(10**6), max_value=10**6, places=2, allow_nan=False, allow_infinity=False
    ).map(str),
    st.sampled_from(
        [
            "0",
            "-0",
            "1",
            "2.5",
            "0.0001",
            "0.00001",
            "1e3",
            "1E-2",
            "922337203685477.5807",
            "1000000000000000",
            "79228162514264337593543950335",
            "79228162514264337593543950336",
            " 12.50 ",
            "1_000",
            "NaN",
            "",
        ]
    ),
    st.text(max_size=45),
)

schemathesis.graphql.scalar("Decimal", DECIMAL_TEXT.map(nodes.String))
schemathesis.graphql.scalar("NaiveDate", st.dates().map(lambda d: nodes.String(d.isoformat())))
schemathesis.graphql.scalar(
    "DateTime",
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: nodes.String(d.isoformat())),
)
