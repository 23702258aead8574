-- Pseudonymised customers: the email is hashed and the name dropped. Portable between DuckDB
-- (the embedded warehouse) and PostgreSQL (the warehouse while `dk dev up` runs).
select
    id,
    {{ sha256_hex('lower(trim(email))') }} as email_hash,
    country,
    substr(cast(signup_date as varchar), 1, 7) as signup_month
from {{ source('raw', 'customers') }}
