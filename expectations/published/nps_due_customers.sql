select customer_id, cast(as_of_date as varchar) as as_of_date, created_at, last_nps_answer_at
from nps_due_customers
