select * from experience_drivers
