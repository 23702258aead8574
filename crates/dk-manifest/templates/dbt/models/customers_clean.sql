-- Pseudonymised customers: the email is hashed and the name dropped.
select
    id,
    sha256(lower(trim(email))) as email_hash,
    country,
    strftime(cast(signup_date as date), '%Y-%m') as signup_month
from {{ source('raw', 'customers') }}
