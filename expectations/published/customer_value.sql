select * from customer_value
